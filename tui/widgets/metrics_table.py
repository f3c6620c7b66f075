"""The per-epoch validation metrics of a run as a Rich table, the best row marked (shared with the console)."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from engine.console import metrics_table
from engine.history import RunHistory


class MetricsTable(Static):
    """One row per evaluation: epoch, step, train loss, validation loss and metrics; ★ on the best."""

    DEFAULT_CSS = """
    MetricsTable {
        height: auto;
        padding: 0 1;
    }
    """

    # What the table depends on: once an evaluation is logged its row never changes, so
    # (run, evaluations, headline metric) decides whether a redraw is needed.
    table_key: reactive[tuple] = reactive(tuple, always_update=False, init=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("no evaluation yet: metrics appear after the first epoch", id=id, classes=classes)
        self._history: RunHistory | None = None

    def show(self, history: RunHistory) -> None:
        self._history = history
        self.table_key = (
            id(history),
            len(history.evaluations),
            history.headline_metric,
            history.finished is not None,
        )

    def watch_table_key(self, key: tuple) -> None:
        history = self._history
        if history is None or not history.evaluations:
            ended = history is not None and history.finished is not None
            self.update(
                "no evaluation: the run ended before its first one"
                if ended
                else "no evaluation yet: metrics appear after the first epoch"
            )
            return
        self.update(metrics_table(history))
