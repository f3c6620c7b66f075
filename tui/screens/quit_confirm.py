"""Asked when quitting while a run is live: stop it gracefully, leave it running, or stay."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui.run_index import RunIndex


class QuitScreen(ModalScreen[str | None]):
    """Dismisses with "stop", "leave", or None (cancel)."""

    AUTO_FOCUS = "#leave"
    BINDINGS = [
        Binding(
            "s",
            "choose('stop')",
            "Stop run and quit",
            id="quit.stop",
            tooltip="Checkpoint + results, then the run ends",
        ),
        Binding(
            "l",
            "choose('leave')",
            "Leave running",
            id="quit.leave",
            tooltip="Quit the app; the run keeps training",
        ),
        Binding("escape", "choose('cancel')", "Cancel", id="quit.cancel", tooltip="Back to the app"),
    ]

    def __init__(self, live_runs: list[Path], run_index: RunIndex) -> None:
        super().__init__()
        self.live_runs = live_runs
        self.run_index = run_index

    def _lines(self) -> Content:
        lines = []
        for run_dir in self.live_runs:
            history = self.run_index.history(run_dir)
            progress = (
                f"step {history.step}/{history.total_steps}"
                if history.total_steps
                else (history.stage or "starting")
            )
            lines.append(f"  {run_dir.name} ({progress})")
        return Content("\n".join(lines))

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog", classes="dialog"):
            yield Label("A run is still training", classes="dialog-title")
            yield Label(self._lines(), id="quit-runs")
            yield Label(
                "Stop it (it saves a checkpoint and writes results), or leave it running: "
                "it lives in its own process, and `fttui` shows it again later."
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop run and quit (s)", id="stop", variant="warning")
                yield Button("Leave running (l)", id="leave", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        # The runs go on training while the question is open: keep their steps current.
        self.set_interval(1.0, lambda: self.query_one("#quit-runs", Label).update(self._lines()))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        self.dismiss(None if choice == "cancel" else choice)
