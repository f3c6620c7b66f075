"""A confusion matrix of the validation predictions: true labels down, predicted labels across."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from engine.console import clip
from engine.events import ValidationPredictions

MAX_LABEL_CHARS = 14


class ConfusionMatrix(Static):
    """Counts of (true, predicted) label pairs from ``trainer.predict`` on the validation split."""

    DEFAULT_CSS = """
    ConfusionMatrix {
        height: auto;
        padding: 0 1;
    }
    ConfusionMatrix > .confusion-matrix--right { color: $success; text-style: bold; }
    ConfusionMatrix > .confusion-matrix--wrong { color: $error; }
    ConfusionMatrix > .confusion-matrix--zero { color: $text-disabled; }
    """

    COMPONENT_CLASSES = {"confusion-matrix--right", "confusion-matrix--wrong", "confusion-matrix--zero"}

    predictions: reactive[ValidationPredictions | None] = reactive(None, always_update=False, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("no predictions yet: they come after training", id=id, classes=classes)

    def watch_predictions(self, predictions: ValidationPredictions | None) -> None:
        if predictions is None:
            self.update("no predictions yet: they come after training")
            return
        if not predictions.labels:
            self.update("regression: no confusion matrix (see the metrics above)")
            return
        right = self.get_component_rich_style("confusion-matrix--right", partial=True)
        wrong = self.get_component_rich_style("confusion-matrix--wrong", partial=True)
        zero = self.get_component_rich_style("confusion-matrix--zero", partial=True)
        table = Table(title="Confusion matrix of the validation predictions", title_justify="left")
        table.add_column(Text("true ↓ predicted →"), style="bold")
        for name in predictions.labels:
            table.add_column(Text(clip(name, MAX_LABEL_CHARS)), justify="right")
        table.add_column("recall", justify="right")
        total = correct = 0
        for i, (name, row) in enumerate(zip(predictions.labels, predictions.confusion, strict=False)):
            cells = []
            for j, count in enumerate(row):
                style = zero if count == 0 else (right if i == j else wrong)
                cells.append(Text(str(count), style=style))
            row_total = sum(row)
            total += row_total
            correct += row[i] if i < len(row) else 0
            recall = f"{row[i] / row_total:.1%}" if row_total and i < len(row) else "--"
            table.add_row(Text(clip(name, MAX_LABEL_CHARS)), *cells, recall)
        table.caption = f"{correct}/{total} right ({correct / total:.1%})" if total else ""
        table.caption_justify = "left"
        self.update(table)
