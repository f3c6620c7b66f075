"""Results of a finished run: final metrics, per-epoch table, loss chart, confusion matrix, confident mistakes, export."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, Label, Static

from engine.config import tomllib
from engine.console import fmt_duration, fmt_metric
from engine.paths import RESULTS_FILE
from tui import run_recovery
from tui.screens.base import FttuiScreen
from tui.widgets.confusion_matrix import ConfusionMatrix
from tui.widgets.loss_chart import LossChart
from tui.widgets.metrics_table import MetricsTable
from tui.widgets.mistakes import ConfidentMistakes
from tui.widgets.warnings_panel import WarningsPanel

EXPORT_NAME = "results-export.toml"
RESULTS_NAME = RESULTS_FILE


def read_results(path: Path) -> dict[str, Any]:
    """The ``[results]`` table of a results file; empty when there is none (a crashed run)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("results", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}


class ResultsScreen(FttuiScreen):
    """Everything a finished run produced, readable at 80x24 by scrolling; `e` exports results.toml."""

    HELP = """\
**Results.** What the run produced: final and best metrics, the per-epoch table, the loss
chart, the confusion matrix of `trainer.predict()` on the validation split and the examples
the model got most confidently wrong. `e` exports `results.toml` (itself a preset that
re-runs the same configuration) to a path you choose. A stopped or crashed run resumes with
`R`; a run that ran out of GPU memory offers `m`, a new run with half the batch per device
and twice the gradient accumulation.
"""

    BINDINGS = [
        Binding(
            "e", "export", "Export", id="results.export", tooltip="Copy results.toml to a path you choose"
        ),
        Binding(
            "v",
            "run_view",
            "Run view",
            id="results.run_view",
            tooltip="The run's live view, rebuilt from its log",
        ),
        Binding(
            "R",
            "resume",
            "Resume",
            id="results.resume",
            tooltip="Continue the run from its last checkpoint; the event log goes on",
        ),
        Binding(
            "m",
            "retry_memory",
            "Retry with less memory",
            id="results.retry_memory",
            tooltip="A new run: half the batch per device, twice the gradient accumulation",
        ),
        Binding("escape", "home", "Home", id="results.home", tooltip="Back to presets and runs"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.results_path = self.run_dir / RESULTS_NAME
        self._resumable = False
        self._out_of_memory = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="results-body"):
            yield Label("", id="results-title")
            yield Label("", id="results-error")
            yield Static("", id="final-metrics")
            yield MetricsTable(id="results-metrics")
            yield LossChart(id="results-loss")
            yield ConfusionMatrix()
            yield ConfidentMistakes()
            yield WarningsPanel()
            yield Label("", id="export-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = f"results · {self.run_dir.name}"
        history = self.app.run_index.history(self.run_dir)
        if history.finished and history.finished.results_path:
            self.results_path = self.run_dir / Path(history.finished.results_path).name
        results = read_results(self.results_path)
        status = history.status()
        duration = results.get("duration_seconds") or (
            history.finished.duration_seconds if history.finished else None
        )
        preset = history.started.preset if history.started else results.get("preset", "")
        title = self.query_one("#results-title", Label)
        title.update(Content(f"{self.run_dir.name} · preset {preset} · {status} in {fmt_duration(duration)}"))
        title.set_class(True, f"-{status}")
        error = results.get("error") or (history.finished.error if history.finished else "")
        if status == "crashed":
            error = "the run's process is gone without finishing: no results were written"
        self._resumable = run_recovery.can_resume(self.run_dir, status)
        self._out_of_memory = status == "failed" and run_recovery.ran_out_of_memory(history)
        if self._out_of_memory:
            error += (
                "\nm: retry as a new run with half the batch per device and twice the gradient accumulation"
            )
        self.refresh_bindings()
        error_label = self.query_one("#results-error", Label)
        error_label.update(Content(f"error: {error}" if error else ""))
        error_label.display = bool(error)
        self.query_one("#final-metrics", Static).update(self._final_table(history, results))
        self.query_one(MetricsTable).show(history)
        self.query_one(LossChart).show(history)
        predictions = history.predictions
        self.query_one(ConfusionMatrix).predictions = predictions
        self.query_one(ConfidentMistakes).predictions = predictions
        self.query_one(WarningsPanel).show(history)
        note = self.query_one("#export-note", Label)
        note.update(
            Content(f"results file: {self.results_path}" if self.results_path.exists() else "no results.toml")
        )

    def _final_table(self, history: Any, results: dict[str, Any]) -> Table:
        table = Table(
            title="Final metrics", title_justify="left", show_header=False, box=None, padding=(0, 2)
        )
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        final = results.get("final_metrics") or history.final_metrics
        for key, value in final.items():
            table.add_row("val " + key if key == "loss" else key, fmt_metric(value))
        best = results.get("best")
        if best:
            table.add_row(
                f"best {best['metric']}",
                f"{fmt_metric(best['value'])} (epoch {best['epoch']:g}, step {best['step']})",
            )
        predicted = history.predictions.metrics if history.predictions else {}
        for key, value in predicted.items():
            if isinstance(value, float) and math.isfinite(value):
                table.add_row(f"predict {key}", fmt_metric(value))
        if not table.row_count:
            table.add_row("no metrics", "the run ended before its first evaluation")
        return table

    # -- actions -------------------------------------------------------------------------------

    def action_export(self) -> None:
        from tui.screens.export import ExportScreen

        if not self.results_path.exists():
            self.notify(
                "this run wrote no results.toml", title="Nothing to export", severity="error", markup=False
            )
            return

        def exported(written: Path | None) -> None:
            if written is None:
                return
            summary = read_results(written)
            metrics = len(summary.get("final_metrics", {}))
            what = f"status {summary.get('status', '?')}, {metrics} final metrics, {len(summary.get('epochs', []))} epochs"
            self.query_one("#export-note", Label).update(Content(f"exported to {written} ({what})"))
            self.notify(f"{written}\n{what}", title="Results exported", markup=False)

        self.app.push_screen(ExportScreen(self.results_path, self.run_dir / EXPORT_NAME), exported)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume":
            return self._resumable and not self.app.is_resuming(self.run_dir)
        if action == "retry_memory":
            return self._out_of_memory
        return True

    def action_resume(self) -> None:
        self.app.resume_run(self.run_dir)

    def action_retry_memory(self) -> None:
        self.app.retry_with_less_memory(self.run_dir)

    def action_run_view(self) -> None:
        self.app.open_run(self.run_dir)

    def action_home(self) -> None:
        self.app.go_home()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Export results", f"Write {self.run_dir.name}'s results to a TOML file", self.action_export
        )
        if self.check_action("resume", ()):
            yield SystemCommand(
                "Resume run", f"Continue {self.run_dir.name} from its last checkpoint", self.action_resume
            )
        if self._out_of_memory:
            yield SystemCommand(
                "Retry with less GPU memory",
                "A new run: half the batch per device, twice the gradient accumulation",
                self.action_retry_memory,
            )
