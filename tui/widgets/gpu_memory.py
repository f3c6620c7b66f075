"""Accelerator memory of a run: a sparkline per device and a table of allocated, reserved, peak and total."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.table import Table
from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from engine.console import fmt_bytes
from engine.events import DeviceMemory
from engine.history import RunHistory
from tui.widgets.sparkline_panel import SparklinePanel

NO_GPU = "no GPU: training runs on the CPU"
MAX_DEVICES_SHOWN = 8


def device_key(dev: DeviceMemory) -> str:
    return f"{dev.host}:{dev.index}"


@dataclass(frozen=True)
class MemoryView:
    """Per device: allocated bytes at every sample, and the latest figures (with the highest peak seen)."""

    series: tuple[tuple[str, tuple[int, ...]], ...] = ()
    latest: tuple[DeviceMemory, ...] = ()
    sampled: bool = False
    ended: bool = False

    @classmethod
    def from_history(cls, history: RunHistory) -> MemoryView:
        by_device: dict[str, list[int]] = {}
        latest: dict[str, DeviceMemory] = {}
        for sample in history.memory:
            for dev in sample.devices:
                by_device.setdefault(device_key(dev), []).append(dev.allocated)
                latest[device_key(dev)] = dev
        peaks = history.peak_memory()
        return cls(
            series=tuple((key, tuple(values)) for key, values in by_device.items()),
            latest=tuple(
                dataclasses.replace(dev, peak=max(dev.peak, peaks[key].peak if key in peaks else 0))
                for key, dev in latest.items()
            ),
            sampled=bool(history.memory),
            ended=history.finished is not None,
        )


class GpuMemoryPanel(Widget):
    """GPU memory per device over the run; says "no GPU" plainly when the run has none."""

    DEFAULT_CSS = """
    GpuMemoryPanel {
        height: auto;
        border: round $primary 40%;
        padding: 0 1;
    }
    GpuMemoryPanel > #gpu-note { width: 1fr; color: $text-muted; }
    GpuMemoryPanel.-no-gpu > #gpu-note { color: $text; text-style: bold; }
    GpuMemoryPanel > #gpu-table { height: auto; }
    """

    view: reactive[MemoryView] = reactive(MemoryView, always_update=False)

    def on_mount(self) -> None:
        self.border_title = "GPU memory"
        self.watch_view(self.view)

    def compose(self) -> ComposeResult:
        yield Label("waiting for the first memory sample…", id="gpu-note")
        yield Static("", id="gpu-table")

    def show(self, history: RunHistory) -> None:
        self.view = MemoryView.from_history(history)

    def watch_view(self, view: MemoryView) -> None:
        if not self.is_mounted:
            return
        note = self.query_one("#gpu-note", Label)
        no_gpu = view.sampled and not view.latest
        self.set_class(no_gpu, "-no-gpu")
        if not view.sampled:
            note.update(
                "no memory sample: the run ended before training"
                if view.ended
                else "waiting for the first memory sample…"
            )
        elif no_gpu:
            note.update(NO_GPU)
        else:
            note.update(Content(f"{len(view.latest)} device(s); sparkline: allocated over time"))
        self._sync_sparklines(view)
        table_widget = self.query_one("#gpu-table", Static)
        table_widget.display = bool(view.latest)
        if not view.latest:
            return
        table = Table(box=None, padding=(0, 1), expand=False, show_edge=False)
        for name in ("device", "allocated", "reserved", "peak", "total"):
            table.add_column(name, justify="left" if name == "device" else "right")
        hosts = {d.host for d in view.latest}
        for dev in view.latest[:MAX_DEVICES_SHOWN]:
            host = f"{dev.host}:" if len(hosts) > 1 else ""
            table.add_row(
                f"{host}{dev.index} {dev.name}",
                fmt_bytes(dev.allocated),
                fmt_bytes(dev.reserved),
                fmt_bytes(dev.peak),
                fmt_bytes(dev.total),
            )
        table_widget.update(table)

    def _sync_sparklines(self, view: MemoryView) -> None:
        existing = {panel.caption: panel for panel in self.query(SparklinePanel)}
        latest = {device_key(d): d for d in view.latest}
        for key, values in view.series[:MAX_DEVICES_SHOWN]:
            dev = latest.get(key)
            caption = (
                f"gpu {key}"
                if len({k.split(":")[0] for k, _ in view.series}) > 1
                else f"gpu {key.split(':')[-1]}"
            )
            panel = existing.get(caption)
            if panel is None:
                panel = SparklinePanel(caption)
                self.mount(panel, before=self.query_one("#gpu-table"))
            total = f"/{fmt_bytes(dev.total)}" if dev else ""
            panel.show(list(values), f"{fmt_bytes(values[-1])}{total}")
