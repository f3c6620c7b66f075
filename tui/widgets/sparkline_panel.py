"""A titled sparkline with the latest value beside it (training loss, memory over time)."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Sparkline


class SparklinePanel(Widget):
    """One line: a caption, Textual's ``Sparkline`` over the last values, and the latest value."""

    DEFAULT_CSS = """
    SparklinePanel {
        height: 1;
        layout: horizontal;
    }
    SparklinePanel > .caption { width: auto; color: $text-muted; margin-right: 1; }
    SparklinePanel > Sparkline { width: 1fr; min-width: 8; }
    SparklinePanel > .latest { width: auto; margin-left: 1; text-style: bold; }
    """

    values: reactive[tuple[float, ...]] = reactive(tuple, always_update=False)
    value_text: reactive[str] = reactive("--", always_update=False)

    def __init__(self, caption: str, *, window: int = 120, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.caption = caption
        self.window = window

    def compose(self) -> ComposeResult:
        yield Label(Content(self.caption), classes="caption")
        yield Sparkline([], summary_function=max)
        yield Label("--", classes="latest")

    def show(self, values: list[float], value_text: str) -> None:
        # NaN would poison the sparkline's scale; the warnings panel reports it instead.
        self.values = tuple(v for v in values[-self.window :] if math.isfinite(v))
        self.value_text = value_text

    def watch_values(self, values: tuple[float, ...]) -> None:
        if self.is_mounted:
            self.query_one(Sparkline).data = list(values)

    def watch_value_text(self, text: str) -> None:
        if self.is_mounted:
            self.query_one(".latest", Label).update(Content(text))

    def on_mount(self) -> None:
        self.watch_values(self.values)
        self.watch_value_text(self.value_text)
