"""The validation examples the model got wrong with the most confidence."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.events import ValidationPredictions


class ConfidentMistakes(Static):
    """Text, true label, predicted label and confidence of the most confidently wrong predictions.

    Wrong with high confidence is where mislabelled rows and systematic blind spots show up,
    so an empty list says which of "no predictions", "regression" or "no mistakes" it means.
    """

    DEFAULT_CSS = """
    ConfidentMistakes {
        height: auto;
        padding: 0 1;
    }
    """

    predictions: reactive[ValidationPredictions | None] = reactive(None, always_update=False, init=False)

    def __init__(self, *, limit: int = 10, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("no predictions yet: they come after training", id=id, classes=classes)
        self.limit = limit

    def watch_predictions(self, predictions: ValidationPredictions | None) -> None:
        if predictions is None:
            self.update("no predictions yet: they come after training")
            return
        if not predictions.labels:
            self.update("regression: no classes to get wrong")
            return
        total = sum(map(sum, predictions.confusion))
        mistakes = total - sum(row[i] for i, row in enumerate(predictions.confusion) if i < len(row))
        examples = predictions.most_confident_wrong[: self.limit]
        if not mistakes:
            self.update(f"no mistakes: all {total:,} validation examples were predicted right")
            return
        if len(examples) < mistakes:
            shown = f"the {len(examples)} most confident of {mistakes:,} mistakes"
        else:
            shown = "the only mistake" if mistakes == 1 else f"all {mistakes:,} mistakes"
        table = Table(
            title=f"Most confidently wrong: {shown}",
            title_justify="left",
            expand=True,
        )
        table.add_column("confidence", justify="right", no_wrap=True)
        table.add_column("true", no_wrap=True)
        table.add_column("predicted", no_wrap=True)
        table.add_column("text", ratio=1, overflow="fold")
        for ex in examples:
            table.add_row(f"{ex.confidence:.1%}", Text(ex.label), Text(ex.predicted), Text(ex.text))
        self.update(table)
