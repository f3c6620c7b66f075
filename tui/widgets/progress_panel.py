"""Where a run stands: status, stage, a progress bar with step and epoch, samples/s, ETA and elapsed time."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from engine.console import fmt_duration, fmt_number
from engine.history import RunHistory

STATUS_MARKS = {
    "running": "● running",
    "completed": "✔ completed",
    "stopped": "■ stopped",
    "failed": "✖ failed",
    "crashed": "✖ crashed (its process is gone)",
    "unknown": "… starting",
}


@dataclass(frozen=True)
class ProgressView:
    """The figures this panel shows, taken from a run's history."""

    status: str = "unknown"
    stage: str = ""
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    num_epochs: float = 0.0
    samples_per_second: float = 0.0
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    stopping: bool = False
    error: str = ""

    @classmethod
    def from_history(cls, history: RunHistory, status: str, error: str = "") -> ProgressView:
        p = history.progress
        return cls(
            status=status,
            stage=history.stage,
            step=history.step,
            total_steps=history.total_steps,
            epoch=p.epoch if p else 0.0,
            num_epochs=history.plan.num_epochs if history.plan else 0.0,
            samples_per_second=p.samples_per_second if p else 0.0,
            eta_seconds=p.eta_seconds if p else None,
            elapsed_seconds=p.elapsed_seconds if p else 0.0,
            stopping=history.stop_requested is not None and history.finished is None,
            error=history.finished.error if history.finished else error,
        )


class TrainingProgress(Widget):
    """Status line, progress bar and throughput figures of one run."""

    DEFAULT_CSS = """
    TrainingProgress {
        height: auto;
        padding: 0 1;
    }
    TrainingProgress #status-line { width: 1fr; text-style: bold; }
    TrainingProgress.-running #status-line { color: $success; }
    TrainingProgress.-completed #status-line { color: $success; }
    TrainingProgress.-stopped #status-line { color: $warning; }
    TrainingProgress.-failed #status-line, TrainingProgress.-crashed #status-line { color: $error; }
    TrainingProgress #bar-row { height: 1; }
    TrainingProgress ProgressBar { width: auto; margin-right: 2; }
    TrainingProgress #step-figures { width: 1fr; }
    TrainingProgress #rate-figures { color: $text-muted; }
    TrainingProgress #run-error { width: 1fr; color: $error; text-style: bold; display: none; }
    TrainingProgress.-has-error #run-error { display: block; }
    """

    view: reactive[ProgressView] = reactive(ProgressView, always_update=False)

    def compose(self) -> ComposeResult:
        yield Label(STATUS_MARKS["unknown"], id="status-line")
        with Horizontal(id="bar-row"):
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Label("", id="step-figures")
        yield Label("", id="rate-figures")
        yield Label("", id="run-error")

    def show(self, history: RunHistory, status: str, error: str = "") -> None:
        """``error``: why the run failed when its log cannot say (it ended before its first event)."""
        self.view = ProgressView.from_history(history, status, error)

    def watch_view(self, view: ProgressView) -> None:
        if not self.is_mounted:
            return
        for name in STATUS_MARKS:
            self.set_class(view.status == name, f"-{name}")
        self.set_class(bool(view.error), "-has-error")
        status = STATUS_MARKS.get(view.status, view.status)
        if view.stopping:
            status = "■ stopping after this step (checkpoint + results)…"
        stage = f" · {view.stage}" if view.stage and view.stage not in (view.status, "training") else ""
        self.query_one("#status-line", Label).update(Content(status + stage))
        bar = self.query_one("#bar", ProgressBar)
        if view.total_steps:
            bar.update(total=view.total_steps, progress=view.step)
        elif view.status not in ("running", "unknown"):
            bar.update(total=1, progress=0)  # ended before a plan: an empty bar, not a busy one
        epochs = f" · epoch {view.epoch:.2f}/{fmt_number(view.num_epochs)}" if view.num_epochs else ""
        steps = f"step {view.step}/{view.total_steps}" if view.total_steps else "step --"
        self.query_one("#step-figures", Label).update(steps + epochs)
        # An ended run has nothing left to wait for: its ETA would be a stale promise.
        eta = f" · ETA {fmt_duration(view.eta_seconds)}" if view.status in ("running", "unknown") else ""
        self.query_one("#rate-figures", Label).update(
            f"{view.samples_per_second:.1f} samples/s{eta} · elapsed {fmt_duration(view.elapsed_seconds)}"
        )
        self.query_one("#run-error", Label).update(Content(f"error: {view.error}" if view.error else ""))

    def on_mount(self) -> None:
        self.watch_view(self.view)
