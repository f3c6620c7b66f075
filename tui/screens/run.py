"""The live view of a run, rebuilt from its event log: progress, loss, validation metrics, GPU memory, warnings."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, Label
from textual.worker import get_current_worker

from engine.console import fmt_metric
from engine.events import EVENTS_FILE, RunFinished, read_events_from
from engine.history import RunHistory
from engine.paths import RESULTS_FILE, RUN_LOG
from tui.messages import RunEvents, RunTick
from tui.screens.base import FttuiScreen
from tui.widgets.gpu_memory import GpuMemoryPanel
from tui.widgets.loss_chart import LossChart
from tui.widgets.metrics_table import MetricsTable
from tui.widgets.progress_panel import TrainingProgress
from tui.widgets.sparkline_panel import SparklinePanel
from tui.widgets.warnings_panel import WarningsPanel

POLL_SECONDS = 0.2
# A log read on attach can hold a whole long run: hand it over in slices so the UI keeps answering.
MAX_BATCH = 2000
LIVENESS_SECONDS = 3.0
NARROW_WIDTH = 100


def launch_failure(run_dir: Path, code: int) -> str:
    """Why an engine process ended before its first event: the error line it left in run.log."""
    try:
        lines = [line.strip() for line in (run_dir / RUN_LOG).read_text(errors="replace").splitlines()]
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("fttui: error:")]
    reason = errors[-1].removeprefix("fttui: error:").strip() if errors else (lines[-1] if lines else "")
    return reason or f"the engine exited with code {code} before starting; see {run_dir / RUN_LOG}"


class RunScreen(FttuiScreen):
    """Follows ``events.jsonl`` in a thread worker; every widget is redrawn from one ``RunHistory``."""

    HELP = """\
**Run.** The live view of one run, rebuilt from its event log: progress with step, epoch,
samples/s and ETA; the training loss (line) with the validation loss over it (marked
points) and epoch guides; validation metrics per epoch with the best row starred; GPU
memory per device ("no GPU" on a CPU box); warnings such as a NaN loss or the model's
load report. `s` stops gracefully (checkpoint + results); `l` or esc leaves it running.
"""

    BINDINGS = [
        Binding(
            "s",
            "stop_run",
            "Stop run",
            id="run.stop",
            tooltip="Stop gracefully after the current step: checkpoint + results",
        ),
        Binding(
            "l",
            "leave",
            "Leave running",
            id="run.leave",
            tooltip="Back to home; the run keeps training in its own process",
        ),
        Binding(
            "r", "results", "Results", id="run.results", tooltip="Final metrics, confusion matrix, export"
        ),
        Binding("escape", "home", "Home", id="run.home", tooltip="Back to home; a live run keeps training"),
    ]

    def __init__(self, run_dir: Path, process: subprocess.Popen | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        # The engine process, when this app started it: the only witness of a run that
        # failed before writing its first event (a preset the engine's full check rejects).
        self.process = process
        self._launch_error = ""
        self.history = RunHistory()
        self._announced_end = False
        self._status = "unknown"

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="run-body"):
            yield Label(Content(f"run {self.run_dir.name}"), id="run-title")
            yield TrainingProgress()
            with Horizontal(id="run-charts"):
                yield LossChart(id="loss-chart")
                with Vertical(id="run-side"):
                    yield SparklinePanel("train loss", id="loss-sparkline")
                    yield GpuMemoryPanel()
            yield MetricsTable(id="run-metrics")
            yield WarningsPanel()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.run_dir.name
        self.follow_run()
        self.set_interval(LIVENESS_SECONDS, self._check_liveness)
        self.refresh_view()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")

    # -- following the log ---------------------------------------------------------------------

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="follow-run", description="Following the run"
    )
    def follow_run(self) -> None:
        worker = get_current_worker()
        path = self.run_dir / EVENTS_FILE
        offset = 0
        while not worker.is_cancelled:
            events = []
            if path.exists():
                events, offset = read_events_from(path, offset)
            for start in range(0, len(events), MAX_BATCH):
                self.post_message(RunEvents(self.run_dir, events[start : start + MAX_BATCH]))
            if events and isinstance(events[-1], RunFinished):
                return
            # Sleeping between reads is what batches a fast stream into few messages.
            time.sleep(POLL_SECONDS)

    def on_run_events(self, message: RunEvents) -> None:
        self.history.extend(message.events)
        self.post_message(RunTick())

    def on_run_tick(self, message: RunTick) -> None:
        self.refresh_view()

    def _check_liveness(self) -> None:
        if self.history.started is None and self.process is not None and not self._launch_error:
            code = self.process.poll()
            if code is not None:
                self._launch_error = launch_failure(self.run_dir, code)
                self.refresh_view()
        elif self.history.finished is None and self.history.started is not None:
            self.post_message(RunTick())

    # -- drawing -------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        history = self.history
        status = "failed" if self._launch_error else history.status()
        started = history.started
        if started is not None:
            where = f" · {started.device}" if started.device else ""
            self.query_one("#run-title", Label).update(
                Content(f"{started.run_id} · preset {started.preset}{where}")
            )
        self.query_one(TrainingProgress).show(history, status, self._launch_error)
        self.query_one(LossChart).show(history)
        sparkline = self.query_one("#loss-sparkline", SparklinePanel)
        recent = [s.loss for s in history.losses[-sparkline.window :]]
        sparkline.show(recent, fmt_metric(recent[-1]) if recent else "--")
        self.query_one(GpuMemoryPanel).show(history)
        self.query_one(MetricsTable).show(history)
        self.query_one(WarningsPanel).show(history)
        if status != self._status:
            self._status = status
            self.refresh_bindings()
            self._announce(status)

    def _announce(self, status: str) -> None:
        if self._announced_end or status in ("running", "unknown"):
            return
        self._announced_end = True
        finished = self.history.finished
        if status == "crashed":
            self.notify(
                "its process is gone without finishing; `fttui resume` continues from the last checkpoint",
                title=f"{self.run_dir.name} crashed",
                severity="error",
                timeout=10,
                markup=False,
            )
        elif status == "failed":
            error = finished.error if finished else self._launch_error
            self.notify(
                error or "see run.log in the run folder",
                title="Run failed",
                severity="error",
                timeout=15,
                markup=False,
            )
        else:
            metric = self.history.headline_metric
            best = self.history.best_evaluation(metric)
            score = f"best {metric} {fmt_metric(best.metrics[metric])} · " if best and metric else ""
            self.notify(
                f"{score}press r for results", title=f"Run {status}", severity="information", markup=False
            )

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_run":
            return self._status == "running" and self.history.stop_requested is None
        if action == "leave":
            return self._status == "running"
        if action == "results":
            # A run rejected before training has nothing to show beyond the error already on screen.
            has_something = self.history.dataset is not None or (self.run_dir / RESULTS_FILE).exists()
            return True if self._status not in ("running", "unknown") and has_something else None
        return True

    def action_stop_run(self) -> None:
        self.app.stop_run(self.run_dir)

    def action_leave(self) -> None:
        if self._status == "running":
            self.notify(
                f"{self.run_dir.name} keeps training; open it again from home",
                title="Left running",
                markup=False,
            )
        self.app.go_home()

    def action_home(self) -> None:
        self.action_leave()

    def action_results(self) -> None:
        self.app.open_results(self.run_dir)

    def palette_commands(self) -> Iterable[SystemCommand]:
        if self._status == "running":
            yield SystemCommand(
                "Stop run", f"Stop {self.run_dir.name} after the current step", self.action_stop_run
            )
            yield SystemCommand(
                "Leave run running", "Back to home; the run keeps training", self.action_leave
            )
        else:
            yield SystemCommand("Show results", f"Results of {self.run_dir.name}", self.action_results)
