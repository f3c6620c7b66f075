"""Asks where to export a run's results.toml, writes it, and reports what was written."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine.config import PresetError
from engine.results import export_results


class ExportScreen(ModalScreen[Path | None]):
    """Dismisses with the path written, or None when cancelled; errors stay in the dialog."""

    AUTO_FOCUS = "#export-path"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel", tooltip="Close without exporting")]

    def __init__(self, source: Path, default: Path) -> None:
        super().__init__()
        self.source = source
        self.default = default
        self._confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export results to a TOML file", classes="dialog-title")
            yield Label(Content(f"from {self.source}"), classes="dim")
            yield Input(str(self.default), id="export-path", placeholder="path/to/results.toml")
            yield Label("enter: export · esc: cancel · a folder keeps the name results.toml", classes="dim")
            yield Label("", id="export-error", classes="field-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        error = self.query_one("#export-error", Label)
        if not text:
            error.update("type a path ending in .toml")
            return
        target = Path(text).expanduser()
        if target.is_dir():
            target = target / self.source.name
        if target.exists() and target.resolve() != self.source.resolve() and self._confirmed != target:
            # Enter again on the same path is the confirmation; any other path asks anew.
            self._confirmed = target
            error.update(Content(f"{target} exists: enter again to overwrite it, or change the path"))
            return
        try:
            written = export_results(self.source, target)
        except (ValueError, OSError, PresetError) as exc:
            # Name the file the user asked for, not the temporary file the atomic write used.
            message = (
                f"cannot write {target}: {exc.strerror}"
                if isinstance(exc, OSError) and exc.strerror
                else str(exc)
            )
            error.update(Content(message))
            self.notify(message, title="Export failed", severity="error", markup=False)
            return
        self.dismiss(written)

    def action_cancel(self) -> None:
        self.dismiss(None)
