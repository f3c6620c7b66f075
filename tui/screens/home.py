"""Home: the presets (built-in and user) to set up or start, and the running and recent runs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Label

from engine import config as cfg
from engine import paths
from engine.console import fmt_metric
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
        # Run folders (as table keys) that can be resumed, from the last listing.
        self._resumable: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home-body"):
            yield DataTable(id="presets", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
            yield Label("", id="runs-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        presets = self.query_one("#presets", DataTable)
        presets.border_title = "Presets"
        presets.border_subtitle = "enter: set up · s: start now"
        presets.add_columns("preset", "from", "description")
        self.list_presets()
        runs = self.query_one("#runs", DataTable)
        runs.border_title = "Runs"
        runs.border_subtitle = "enter: open · x: stop"
        runs.add_column("run", key="run")
        runs.add_column("preset", key="preset")
        runs.add_column("status", key="status")
        runs.add_column("progress", key="progress")
        runs.add_column("best metric", key="metric")
        runs.add_column("started", key="started")
        self.list_runs()
        self.set_interval(RUNS_REFRESH_SECONDS, self.list_runs)

    def on_screen_resume(self) -> None:
        self.list_presets()
        self.list_runs()

    def list_presets(self) -> None:
        """Built-in presets, then the user's (a user preset of the same name shadows the built-in)."""
        presets = self.query_one("#presets", DataTable)
        highlighted = self._highlighted("presets")
        presets.clear()
        user = cfg.user_presets()
        for name, path in cfg.builtin_presets().items():
            where = "built-in (shadowed)" if name in user else "built-in"
            presets.add_row(name, where, Text(cfg.describe(path)), key=f"builtin:{name}")
        for name, path in user.items():
            presets.add_row(name, "user", Text(cfg.describe(path)), key=f"user:{name}")
        keys = [row.key.value for row in presets.ordered_rows]
        if highlighted in keys:
            presets.move_cursor(row=keys.index(highlighted))

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
                for column, value in zip(
                    ("run", "preset", "status", "progress", "metric", "started"), values, strict=True
                ):
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
        if resumable != self._resumable:
            self._resumable = resumable
            self.refresh_bindings()
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
        started = time.strftime("%m-%d %H:%M", time.localtime(row["started"])) if row["started"] else "--"
        return (
            Text(row["run_id"] or "?"),
            Text(row["preset"]),
            Text(status, style=colour),
            progress,
            Text(metric),
            started,
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

    @on(DataTable.RowSelected, "#presets")
    def _preset_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_preset(str(event.row_key.value).split(":", 1)[1])

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self) -> None:
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
        if run_dir is not None:
            yield SystemCommand(
                "Stop run", f"Ask {run_dir.name} to stop gracefully", lambda: self.app.stop_run(run_dir)
            )
            if self.check_action("resume", ()):
                yield SystemCommand(
                    "Resume run",
                    f"Continue {run_dir.name} from its last checkpoint",
                    lambda: self.app.resume_run(run_dir),
                )
