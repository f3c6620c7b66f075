"""Home: the presets (built-in and user) to set up or start, and the running and recent runs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Label
from textual.widgets.data_table import ColumnKey

from engine import config as cfg
from engine import paths
from engine.console import clip, fmt_metric
from tui import run_recovery
from tui.messages import RunsListed
from tui.run_setup import RunSetup
from tui.screens.base import FttuiScreen

RUNS_REFRESH_SECONDS = 2.0
STATUS_COLOURS = {
    "running": "success",
    "completed": "success",
    "stopped": "warning",
    "failed": "error",
    "crashed": "error",
}


def preset_detail(name: str, path: Path, error_style: str = "bold") -> Text:
    """The whole description of a preset and what it trains on what, or why it cannot be used."""
    text = Text(cfg.describe(path) or name)
    try:
        preset = cfg.resolve(path, check_training=False)
    except cfg.PresetError as exc:
        text.append(f"\n{exc}", style=error_style)
        return text
    model, ds, tr = preset.model, preset.dataset, preset.training
    if ds.get("hub_id"):
        data = "/".join(str(part) for part in (ds["hub_id"], ds.get("config")) if part)
    else:
        data = " + ".join(Path(str(f)).name for f in (ds.get("files") or {}).values())
    columns = " + ".join(ds.get("text_columns") or [])
    parts = [
        f"model {model.get('checkpoint', '?')}",
        f"data {data} ({columns} → {ds.get('label_column', '?')})",
        f"{tr.get('num_train_epochs', '?'):g} epochs"
        if isinstance(tr.get("num_train_epochs"), (int, float))
        else "",
        f"lr {tr['learning_rate']:g}" if isinstance(tr.get("learning_rate"), (int, float)) else "",
        f"batch {tr['per_device_train_batch_size']}" if "per_device_train_batch_size" in tr else "",
    ]
    text.append("\n" + " · ".join(p for p in parts if p), style="dim")
    return text


class HomeScreen(FttuiScreen):
    """Presets on top, runs below; enter opens the highlighted one."""

    AUTO_FOCUS = "#presets"
    HELP = """\
**Home.** Presets on top: built-in ones and your own (saved from the setup screens, or
TOML files in the user presets folder). Enter sets one up; `s` starts it as it is.
Runs below, newest first, with status, progress and best metric, refreshed every few
seconds: a run left running or orphaned by a closed terminal shows here as running.
Enter opens its live view, rebuilt from its event log; `R` resumes a stopped or crashed
run from its last checkpoint.
"""

    BINDINGS = [
        Binding(
            "enter",
            "open",
            "Open",
            id="home.open",
            tooltip="Set up the highlighted preset, or open the highlighted run",
        ),
        Binding(
            "s",
            "start",
            "Start now",
            id="home.start",
            tooltip="Start the highlighted preset as it is, without setup",
        ),
        Binding(
            "x",
            "stop",
            "Stop run",
            id="home.stop",
            tooltip="Ask the highlighted run to stop gracefully (checkpoint + results)",
        ),
        Binding(
            "R",
            "resume",
            "Resume run",
            id="home.resume",
            tooltip="Continue the highlighted stopped or crashed run from its last checkpoint",
        ),
        Binding("r", "refresh_runs", "Refresh", id="home.refresh", tooltip="Read the runs folder again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        # Run folders (as table keys) that can be resumed, and those running, from the last listing.
        self._resumable: set[str] = set()
        self._running: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home-body"):
            yield DataTable(id="presets", cursor_type="row", zebra_stripes=True)
            yield Label("", id="preset-detail")
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            yield Label("", id="runs-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        presets = self.query_one("#presets", DataTable)
        presets.border_title = "Presets"
        presets.border_subtitle = "enter: set up · s: start now"
        presets.add_column("preset", key="preset")
        presets.add_column("from", key="from")
        presets.add_column("description", width=40, key="description")
        self.list_presets()
        runs = self.query_one("#runs", DataTable)
        runs.border_title = "Runs"
        runs.border_subtitle = "enter: open · x: stop · R: resume"
        runs.add_column("run", key="run")
        runs.add_column("status", key="status")
        runs.add_column("progress", key="progress")
        # No "started" or "preset" columns: the run id begins with the start time and names the
        # preset, and at 80 columns the best metric needs the room.
        runs.add_column("best metric", key="metric")
        self.list_runs()
        self.set_interval(RUNS_REFRESH_SECONDS, self.list_runs)

    def on_screen_resume(self) -> None:
        self.list_presets()
        self.list_runs()

    def list_presets(self) -> None:
        """Built-in presets, then the user's (a user preset of the same name shadows the built-in).

        Descriptions are cut to what fits beside the other columns (the line under the table
        shows the highlighted one whole), so the table never needs a horizontal scroll.
        """
        presets = self.query_one("#presets", DataTable)
        highlighted = self._highlighted("presets")
        user = cfg.user_presets()
        rows = [
            (f"builtin:{name}", name, "built-in (shadowed)" if name in user else "built-in", path)
            for name, path in cfg.builtin_presets().items()
        ] + [(f"user:{name}", name, "user", path) for name, path in user.items()]
        name_width = max((len(name) for _, name, _, _ in rows), default=6)
        from_width = max((len(where) for _, _, where, _ in rows), default=4)
        # Screen padding, the table's border and scrollbar, and one cell of padding each side of 3 columns.
        room = self.size.width - 2 - 2 - 1 - 6 - max(name_width, 6) - max(from_width, 4)
        room = max(room, 12)
        described = [(key, name, where, clip(cfg.describe(path), room)) for key, name, where, path in rows]
        # Rows only: cleared columns keep the width of the longest text they ever held.
        presets.clear()
        description = presets.columns[ColumnKey("description")]
        description.width = max((len(text) for *_, text in described), default=room)
        for key, name, where, text in described:
            presets.add_row(name, where, Text(text), key=key)
        keys = [row.key.value for row in presets.ordered_rows]
        if highlighted in keys:
            presets.move_cursor(row=keys.index(highlighted))

    def on_resize(self) -> None:
        self.list_presets()

    # -- runs ----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="list-runs", description="Listing runs")
    def list_runs(self) -> None:
        rows = self.app.run_index.summaries()
        resumable = {d for d, row in rows if run_recovery.can_resume(d, row["status"])}
        self.post_message(RunsListed(rows, resumable))

    def on_runs_listed(self, message: RunsListed) -> None:
        table = self.query_one("#runs", DataTable)
        keys = [str(run_dir) for run_dir, _ in message.rows]
        current = [row.key.value for row in table.ordered_rows]
        cells = {str(run_dir): self._run_cells(row) for run_dir, row in message.rows}
        if keys == current:
            # Same runs as before: update in place so the cursor and scroll stay where they are.
            for key, values in cells.items():
                for column, value in zip(("run", "status", "progress", "metric"), values, strict=True):
                    table.update_cell(key, column, value)
        else:
            highlighted = (
                current[table.cursor_row] if current and 0 <= table.cursor_row < len(current) else None
            )
            table.clear()
            for key in keys:
                table.add_row(*cells[key], key=key)
            if highlighted in keys:
                table.move_cursor(row=keys.index(highlighted))
        resumable = {str(d) for d in message.resumable}
        running = {str(d) for d, row in message.rows if row["status"] == "running"}
        if resumable != self._resumable or running != self._running:
            self._resumable, self._running = resumable, running
            self._refresh_footer()
        hint = self.query_one("#runs-hint", Label)
        hint.update(
            "" if keys else f"no runs yet in {paths.runs_dir()}: highlight a preset and press s to start one"
        )
        hint.display = not keys

    def _run_cells(self, row: dict[str, Any]) -> tuple[Any, ...]:
        status = row["status"]
        colour = self.app.theme_variables.get(STATUS_COLOURS.get(status, "foreground"), "")
        total = row["total_steps"]
        # Kept short so that the best metric fits whole at 80 columns.
        progress = f"{row['step']}/{total}" if total else "--"
        metric = f"{row['metric']} {fmt_metric(row['value'])}" if row["value"] is not None else "--"
        return (
            Text(row["run_id"] or "?"),
            Text(status, style=colour),
            progress,
            Text(metric),
        )

    # -- actions -------------------------------------------------------------------------------

    def _highlighted(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if not table.row_count:
            return None
        return table.ordered_rows[table.cursor_row].key.value

    def _highlighted_preset(self) -> str | None:
        key = self._highlighted("presets")
        return key.split(":", 1)[1] if key else None

    def _highlighted_run(self) -> Path | None:
        key = self._highlighted("runs")
        return Path(key) if key else None

    @on(DataTable.RowHighlighted, "#presets")
    def _preset_highlighted(self, event: DataTable.RowHighlighted) -> None:
        detail = self.query_one("#preset-detail", Label)
        if event.row_key.value is None:
            detail.update("")
            return
        source, name = str(event.row_key.value).split(":", 1)
        path = (cfg.user_presets() if source == "user" else cfg.builtin_presets()).get(name)
        error = f"bold {self.app.theme_variables.get('error', '')}".strip()
        detail.update(preset_detail(name, path, error) if path else Text(""))

    @on(DataTable.RowSelected, "#presets")
    def _preset_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_preset(str(event.row_key.value).split(":", 1)[1])

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self) -> None:
        self._refresh_footer()

    def _refresh_footer(self) -> None:
        """Which run keys apply changed. Under another screen, or while the app closes, the
        footer is not ours to redraw (Textual fails on an empty screen stack); coming back to
        home lists the runs, and redraws it, again."""
        stack = self.app.screen_stack
        if stack and stack[-1] is self:
            self.refresh_bindings()

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(Path(str(event.row_key.value)))

    def action_open(self) -> None:
        if self.focused is self.query_one("#runs"):
            run_dir = self._highlighted_run()
            if run_dir:
                self.app.open_run(run_dir)
        else:
            name = self._highlighted_preset()
            if name:
                self.app.open_preset(name)

    def action_start(self) -> None:
        name = self._highlighted_preset()
        if name:
            self.app.start_run(RunSetup.for_preset(name))

    def action_stop(self) -> None:
        run_dir = self._highlighted_run()
        if run_dir is None:
            self.notify("no run highlighted", severity="warning", markup=False)
            return
        self.app.stop_run(run_dir)
        self.list_runs()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            # Only from the presets: with a run highlighted below, `s` starting the preset
            # highlighted above would be a surprise (in the live view `s` means stop).
            return True if self.focused is None or self.focused.id == "presets" else None
        if action == "stop":
            # Shown but dimmed when the highlighted run is not running: the key stays discoverable.
            run_dir = self._highlighted_run()
            return True if run_dir is not None and str(run_dir) in self._running else None
        if action == "resume":
            if not self._resumable:
                return False
            run_dir = self._highlighted_run()
            return (
                run_dir is not None and str(run_dir) in self._resumable and not self.app.is_resuming(run_dir)
            )
        return True

    def action_resume(self) -> None:
        run_dir = self._highlighted_run()
        if run_dir is not None:
            self.app.resume_run(run_dir)

    def action_refresh_runs(self) -> None:
        self.list_runs()

    def palette_commands(self) -> Iterable[SystemCommand]:
        name = self._highlighted_preset()
        if name:
            yield SystemCommand(
                "Start run",
                f"Start preset '{name}' now, without setup",
                lambda: self.app.start_run(RunSetup.for_preset(name)),
            )
        run_dir = self._highlighted_run()
        if run_dir is not None and self.check_action("stop", ()):
            yield SystemCommand(
                "Stop run", f"Ask {run_dir.name} to stop gracefully", lambda: self.app.stop_run(run_dir)
            )
        if run_dir is not None and self.check_action("resume", ()):
            yield SystemCommand(
                "Resume run",
                f"Continue {run_dir.name} from its last checkpoint",
                lambda: self.app.resume_run(run_dir),
            )
