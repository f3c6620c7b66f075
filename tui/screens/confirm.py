"""Asked before starting a process on the user's behalf (resume, retry): what will happen, then go or cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True (go ahead) or False (cancel); enter presses the focused button."""

    AUTO_FOCUS = "#confirm"
    BINDINGS = [
        Binding("y", "choose(True)", "Go ahead", id="confirm.yes", tooltip="Do what the dialog describes"),
        Binding("escape,n", "choose(False)", "Cancel", id="confirm.cancel", tooltip="Back, nothing started"),
    ]

    def __init__(self, title: str, lines: list[str], confirm: str) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.confirm = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(Content(self.title_text), classes="dialog-title")
            yield Label(Content("\n".join(self.lines)), id="confirm-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm} (enter)", id="confirm", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id == "confirm")

    def action_choose(self, go: bool) -> None:
        self.dismiss(go)
