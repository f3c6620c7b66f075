"""The live view of a run, rebuilt from its event log: progress, loss, validation metrics, GPU memory, warnings."""

from __future__ import annotations

import subprocess
import threading
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
from engine.events import EVENTS_FILE, RunFinished, RunStarted, read_events_from
from engine.history import RunHistory
from engine.paths import RESULTS_FILE, RUN_LOG
from engine.stopping import STOP_FILE
from tui import run_recovery
from tui.messages import RunEvents, RunTick
from tui.screens.base import FttuiScreen
from tui.widgets.gpu_memory import GpuMemoryPanel
from tui.widgets.loss_chart import LossChart
from tui.widgets.metrics_table import MetricsTable
from tui.widgets.progress_panel import TrainingProgress
from tui.widgets.sparkline_panel import SparklinePanel
from tui.widgets.warnings_panel import WarningsPanel

POLL_SECONDS = 0.2
# A finished run's log grows again only when the run is resumed (here or by `fttui resume`).
FINISHED_POLL_SECONDS = 1.0
ENDED = ("completed", "stopped", "failed", "crashed")
# A log read on attach can hold a whole long run: hand it over in slices so the UI keeps answering.
MAX_BATCH = 2000
LIVENESS_SECONDS = 3.0
NARROW_WIDTH = 100
SHORT_HEIGHT = 32


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


def header_line(history: RunHistory) -> str:
    """Run id and preset; the world size of a multi-process run; where a resumed run's segment began; device."""
    started = history.started
    assert started is not None
    parts = [started.run_id, f"preset {started.preset}"]
    if started.world_size > 1:
        parts.append(f"world size {started.world_size}")
    if history.segments > 1:
        # The plan of the segment under way says where it started; before it comes, an older one is on hand.
        plan = history.plan
        times = f" ({history.segments - 1} times)" if history.segments > 2 else ""
        if plan is not None and plan.time >= started.time:
            parts.append(f"resumed{times} from step {plan.start_step}")
        else:
            parts.append(f"resumed{times}" + ("" if history.finished else ", starting…"))
    if started.device:
        parts.append(started.device)
    return " · ".join(parts)


class RunScreen(FttuiScreen):
    """Follows ``events.jsonl`` in a thread worker; every widget is redrawn from one ``RunHistory``."""

    HELP = """\
**Run.** The live view of one run, rebuilt from its event log: progress with step, epoch,
samples/s and ETA; the training loss (line) with the validation loss over it (marked
points) and epoch guides; validation metrics per epoch with the best row starred; GPU
memory per device ("no GPU" on a CPU box); warnings such as a NaN loss or the model's
load report. `s` stops gracefully (checkpoint + results); `l` or esc leaves it running.
A stopped or crashed run resumes with `R` from its last checkpoint: the same log goes on,
and the header says where the resumed segment started. A run that ran out of GPU memory
offers `m`: a new run with half the batch per device and twice the gradient accumulation.
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
        Binding(
            "R",
            "resume",
            "Resume",
            id="run.resume",
            tooltip="Continue from the last checkpoint in the same run folder; the event log goes on",
        ),
        Binding(
            "m",
            "retry_memory",
            "Retry with less memory",
            id="run.retry_memory",
            tooltip="A new run: half the batch per device, twice the gradient accumulation",
        ),
        Binding("escape", "home", "Home", id="run.home", tooltip="Back to home; a live run keeps training"),
    ]

    def __init__(self, run_dir: Path, process: subprocess.Popen | None = None, segment: int = 1) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        # The engine process, when this app started it: the only witness of a run (or a
        # resume) that failed before writing its first event. It writes the log's
        # ``segment``-th part: 1 for a new run, more for a resume.
        self.process = process
        self.process_segment = segment
        self._launch_error = ""
        self.history = RunHistory()
        self._announced_segment = -1
        self._status = "unknown"
        self._resumable = False
        # Set to make the follower read the log now (a resume started) or to end it (screen closed).
        self._wake = threading.Event()
        self._closed = False

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

    def on_unmount(self) -> None:
        self._closed = True
        self._wake.set()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")
        # At 80x24 the per-epoch metrics must start on screen: a shorter chart, and no
        # sparkline (the chart above draws the same losses).
        self.set_class(self.size.height < SHORT_HEIGHT, "-short")

    def watch_process(self, process: subprocess.Popen, segment: int) -> None:
        """Follow a resume of this run started from here: its process writes the log's ``segment``-th part."""
        self.process, self.process_segment = process, segment
        self._wake.set()
        self.refresh_bindings()

    # -- following the log ---------------------------------------------------------------------

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="follow-run", description="Following the run"
    )
    def follow_run(self) -> None:
        worker = get_current_worker()
        path = self.run_dir / EVENTS_FILE
        offset = 0
        finished = False
        while not worker.is_cancelled and not self._closed:
            events = []
            if path.exists():
                events, offset = read_events_from(path, offset)
            for start in range(0, len(events), MAX_BATCH):
                self.post_message(RunEvents(self.run_dir, events[start : start + MAX_BATCH]))
            # Past its end the log is still followed, slowly: a resume continues it.
            for event in reversed(events):
                if isinstance(event, (RunStarted, RunFinished)):
                    finished = isinstance(event, RunFinished)
                    break
            # Waiting between reads is what batches a fast stream into few messages.
            self._wake.wait(FINISHED_POLL_SECONDS if finished else POLL_SECONDS)
            self._wake.clear()

    def on_run_events(self, message: RunEvents) -> None:
        self.history.extend(message.events)
        self.post_message(RunTick())

    def on_run_tick(self, message: RunTick) -> None:
        self.refresh_view()

    def _check_liveness(self) -> None:
        if self.process is not None and self.history.segments < self.process_segment:
            code = self.process.poll()
            if code is not None:
                self._process_ended_early(code)
        elif self.history.finished is None and self.history.started is not None:
            self.post_message(RunTick())

    def _process_ended_early(self, code: int) -> None:
        """The process started here exited before writing its part of the log: say why."""
        reason = launch_failure(self.run_dir, code)
        self.process = None
        if self.process_segment == 1:
            self._launch_error = reason
            self.refresh_view()
            return
        self.notify(
            reason, title=f"{self.run_dir.name} did not resume", severity="error", timeout=15, markup=False
        )
        self.refresh_bindings()

    # -- drawing -------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        history = self.history
        status = "failed" if self._launch_error else history.status()
        if history.started is not None:
            self.query_one("#run-title", Label).update(Content(header_line(history)))
        self.query_one(TrainingProgress).show(history, status, self._launch_error)
        self.query_one(LossChart).show(history)
        sparkline = self.query_one("#loss-sparkline", SparklinePanel)
        recent = [s.loss for s in history.losses[-sparkline.window :]]
        sparkline.show(recent, fmt_metric(recent[-1]) if recent else "--")
        self.query_one(GpuMemoryPanel).show(history)
        self.query_one(MetricsTable).show(history)
        self.query_one(WarningsPanel).show(history)
        if status != self._status:
            previous, self._status = self._status, status
            # Globs the run folder (for a failed run): once per change of status, not per redraw.
            self._resumable = not self._launch_error and run_recovery.can_resume(self.run_dir, status)
            self.refresh_bindings()
            if status == "running" and previous in ENDED and history.segments > self._announced_segment:
                self.notify(
                    f"its log continues (segment {history.segments})",
                    title=f"{self.run_dir.name} resumed",
                    markup=False,
                )
            self._announce(status)

    def _announce(self, status: str) -> None:
        """Say once per segment of the log how it ended."""
        if status in ("running", "unknown") or self._announced_segment == self.history.segments:
            return
        self._announced_segment = self.history.segments
        finished = self.history.finished
        if status == "crashed":
            self.notify(
                "its process is gone without finishing; press R to resume from the last checkpoint",
                title=f"{self.run_dir.name} crashed",
                severity="error",
                timeout=10,
                markup=False,
            )
        elif status == "failed":
            error = finished.error if finished else self._launch_error
            if run_recovery.ran_out_of_memory(self.history):
                error += "\npress m to retry with half the batch per device"
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
            resume = " · R to resume" if status == "stopped" else ""
            self.notify(
                f"{score}press r for results{resume}",
                title=f"Run {status}",
                severity="information",
                markup=False,
            )

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        starting = self._status == "unknown" and self.app.is_starting(self.run_dir)
        if action == "stop_run":
            if starting:
                return not (self.run_dir / STOP_FILE).exists()
            return self._status == "running" and self.history.stop_requested is None
        if action == "leave":
            return self._status == "running" or starting
        if action == "resume":
            return self._resumable and not self.app.is_resuming(self.run_dir)
        if action == "retry_memory":
            return self._status == "failed" and run_recovery.ran_out_of_memory(self.history)
        if action == "results":
            # A run rejected before training has nothing to show beyond the error already on screen.
            has_something = self.history.dataset is not None or (self.run_dir / RESULTS_FILE).exists()
            return True if self._status not in ("running", "unknown") and has_something else None
        return True

    def action_stop_run(self) -> None:
        self.app.stop_run(self.run_dir)
        self.set_timer(0.5, self.refresh_bindings)  # the stop file is written by a worker

    def action_leave(self) -> None:
        if self._status == "running" or self.app.is_starting(self.run_dir):
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

    def action_resume(self) -> None:
        self.app.resume_run(self.run_dir)

    def action_retry_memory(self) -> None:
        self.app.retry_with_less_memory(self.run_dir)

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
        if self.check_action("resume", ()):
            yield SystemCommand(
                "Resume run", f"Continue {self.run_dir.name} from its last checkpoint", self.action_resume
            )
        if self.check_action("retry_memory", ()):
            yield SystemCommand(
                "Retry with less GPU memory",
                "A new run: half the batch per device, twice the gradient accumulation",
                self.action_retry_memory,
            )
