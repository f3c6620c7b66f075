"""Help: what the screen underneath is for, and every key that works there (from the bindings themselves)."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

GENERAL = """\
**fttui** fine-tunes transformer classifiers. Every run trains in a process of its own
and writes an event log in its run folder, so it keeps going when this app (or your SSH
session) closes; the home screen and `fttui attach` show it again, rebuilt from the log.

Setup: **Dataset → Model → Arguments**, then start. Edits are recorded as *screen edits*
and the arguments screen shows the equivalent `fttui run ... --set ...` command.
`ctrl+p` opens the command palette (start, stop, export, open a preset, attach a run).
"""


def markdown_lite(text: str) -> Content:
    """The little Markdown the help texts use (**bold**, *italic*, `code`, paragraphs) as Content.

    A full Markdown renderer costs tens of milliseconds per opening; this costs next to nothing.
    """
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n")]
    markup = "\n\n".join(paragraphs).replace("[", "\\[")
    markup = re.sub(r"\*\*(.+?)\*\*", r"[b]\1[/b]", markup)
    markup = re.sub(r"\*(.+?)\*", r"[i]\1[/i]", markup)
    markup = re.sub(r"`(.+?)`", r"[$accent]\1[/]", markup)
    return Content.from_markup(markup)


class HelpScreen(ModalScreen[None]):
    """Keys of the screen it was opened from, with their tooltips, plus that screen's own help text."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="help.close", tooltip="Back to where you were"),
    ]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def key_lines(self) -> Content:
        """Every fttui key that works on the screen underneath: keys, what they do, and the tooltip.

        fttui's own bindings all carry an id; Textual's (focus moves, arrows in a table...) do not.
        """
        keys: dict[str, list[str]] = {}
        about: dict[str, tuple[str, str, bool]] = {}
        for active in self.under.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.description:
                continue
            keys.setdefault(binding.action, []).append(
                binding.key_display or self.app.get_key_display(binding)
            )
            mine = (binding.description, active.tooltip or binding.tooltip)
            # Several keys for one action: the footer's binding says best what it does.
            description, tooltip, enabled = about.get(binding.action, (*mine, True))
            if binding.show:
                description, tooltip = mine
            about[binding.action] = (description, tooltip, enabled and active.enabled)
        rows = [
            (" / ".join(keys[action]), description + ("" if enabled else " (not now)"), tooltip)
            for action, (description, tooltip, enabled) in about.items()
        ]
        rows.append(("^p", "Command palette", "start, stop, export, open a preset, attach a run"))
        width = max(len(key) for key, _, _ in rows)
        lines = [
            Content.from_markup(
                "[b]$key[/b]  $does  [dim]$tooltip[/dim]", key=key.ljust(width), does=does, tooltip=tip
            )
            for key, does, tip in rows
        ]
        return Content("\n").join(lines)

    def compose(self) -> ComposeResult:
        # Plain Content, not a Rich table or Markdown: help must open at once, even during a run.
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label(
                f"Help · {type(self.under).__name__.removesuffix('Screen').lower()}", classes="dialog-title"
            )
            with VerticalScroll():
                if self.under.HELP:
                    yield Static(markdown_lite(self.under.HELP), classes="help-text")
                yield Static(self.key_lines(), id="help-keys")
                yield Static(markdown_lite(GENERAL), classes="help-text")
            yield Label("esc: close", classes="dim")

    def action_close(self) -> None:
        self.dismiss()
