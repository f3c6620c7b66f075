"""The warnings a run raised (NaN loss, the model's load report, truncation...), newest last."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.events import RunWarning
from engine.history import RunHistory


class WarningsPanel(Static):
    """Every ``RunWarning`` of a run, one per line, with its category; "none" when the run is clean."""

    DEFAULT_CSS = """
    WarningsPanel {
        height: auto;
        max-height: 8;
        padding: 0 1;
        border: round $warning 40%;
    }
    WarningsPanel.-empty { border: round $primary 40%; color: $text-muted; }
    WarningsPanel > .warnings-panel--category { color: $warning; text-style: bold; }
    WarningsPanel > .warnings-panel--severe { color: $error; text-style: bold; }
    """

    COMPONENT_CLASSES = {"warnings-panel--category", "warnings-panel--severe"}
    # A loss that is NaN or a gradient that explodes ruins the run: shown in the error colour.
    SEVERE = {"nan_loss", "grad_explosion", "zero_loss"}

    warnings: reactive[tuple[RunWarning, ...]] = reactive(tuple, always_update=False)

    def on_mount(self) -> None:
        self.border_title = "Warnings"
        self.watch_warnings(self.warnings)

    def show(self, history: RunHistory) -> None:
        self.warnings = tuple(history.warnings)

    def watch_warnings(self, warnings: tuple[RunWarning, ...]) -> None:
        if not self.is_mounted:
            return
        self.set_class(not warnings, "-empty")
        self.border_title = f"Warnings ({len(warnings)})" if warnings else "Warnings"
        if not warnings:
            self.update("none")
            return
        text = Text()
        for i, warning in enumerate(warnings):
            severe = warning.category in self.SEVERE
            style = self.get_component_rich_style(
                "warnings-panel--severe" if severe else "warnings-panel--category", partial=True
            )
            if i:
                text.append("\n")
            step = f" (step {warning.step})" if warning.step is not None else ""
            text.append(f"{warning.category}{step}: ", style)
            text.append(warning.message)
        self.update(text)
