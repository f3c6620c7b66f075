"""Asks for a name and saves the current setup as a user preset that extends the one it came from."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from engine import paths
from engine.config import PresetError
from tui.run_setup import RunSetup


class SavePresetScreen(ModalScreen[Path | None]):
    """Dismisses with the preset file written, or None when cancelled."""

    AUTO_FOCUS = "#preset-name"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="save_preset.cancel", tooltip="Close without saving")
    ]

    def __init__(self, setup: RunSetup) -> None:
        super().__init__()
        self.setup = setup
        # The name the user was warned about; enter again on the same name goes ahead.
        self._confirmed: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog", classes="dialog"):
            yield Label("Save as a user preset", classes="dialog-title")
            yield Label(
                Content(
                    f"extends {self.setup.preset_name} with {len(self.setup.edits)} edit(s); saved in {paths.user_presets_dir()}"
                ),
                classes="dim",
            )
            yield Input(f"{self.setup.preset_name}-edited", id="preset-name", placeholder="preset name")
            yield Label("", id="save-error", classes="field-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        warning = self._overwrite_warning(name)
        if warning and self._confirmed != name:
            self._confirmed = name
            self.query_one("#save-error", Label).update(Content(warning))
            return
        try:
            path = self.setup.save_as(name)
        except (ValueError, OSError, PresetError) as exc:
            self.query_one("#save-error", Label).update(Content(str(exc)))
            self.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        self.dismiss(path)

    @staticmethod
    def _overwrite_warning(name: str) -> str | None:
        """What saving under ``name`` would replace or hide, or None when the name is free."""
        from engine import config as cfg

        existing = cfg.user_presets().get(name)
        if existing is not None:
            return f"{existing} exists: enter again to replace it, or choose another name"
        if name in cfg.builtin_presets():
            return (
                f"'{name}' is a built-in preset: yours would stand in for it everywhere "
                f"(fttui run {name} included); enter again to do so, or choose another name"
            )
        return None

    def action_cancel(self) -> None:
        self.dismiss(None)
