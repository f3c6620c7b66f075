"""The validation examples the model got wrong with the most confidence."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.events import WrongExample


class ConfidentMistakes(Static):
    """Text, true label, predicted label and confidence of the most confidently wrong predictions."""

    DEFAULT_CSS = """
    ConfidentMistakes {
        height: auto;
        padding: 0 1;
    }
    """

    examples: reactive[tuple[WrongExample, ...]] = reactive(tuple, always_update=False, init=False)

    def __init__(self, *, limit: int = 10, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.limit = limit

    def watch_examples(self, examples: tuple[WrongExample, ...]) -> None:
        if not examples:
            self.update("no wrong predictions recorded")
            return
        table = Table(title="Most confidently wrong", title_justify="left", expand=True)
        table.add_column("confidence", justify="right", no_wrap=True)
        table.add_column("true", no_wrap=True)
        table.add_column("predicted", no_wrap=True)
        table.add_column("text", ratio=1, overflow="fold")
        for ex in examples[: self.limit]:
            table.add_row(f"{ex.confidence:.1%}", Text(ex.label), Text(ex.predicted), Text(ex.text))
        self.update(table)
