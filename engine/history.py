"""Rebuild the state of a run from its events: one fold shared by results, `fttui runs` and the TUI."""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.events import (
    EVENTS_FILE,
    CheckpointSaved,
    DatasetReady,
    DeviceMemory,
    EpochMetrics,
    Event,
    GpuMemory,
    Heartbeat,
    ModelLoaded,
    Progress,
    RunFinished,
    RunStarted,
    RunWarning,
    Stage,
    StepLoss,
    StopRequested,
    TrainingPlan,
    ValidationPredictions,
    read_events,
)

# A live run writes a heartbeat every HEARTBEAT_SECONDS; after STALE_SECONDS of silence
# from a process we cannot see, the run is taken for dead.
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 45.0

# Metrics where smaller is better; everything else (accuracy, f1, ...) is maximised.
LOWER_IS_BETTER = {"loss", "eval_loss", "mse", "mae", "rmse"}


@dataclass
class RunHistory:
    """Everything known about one run, updated event by event."""

    started: RunStarted | None = None
    plan: TrainingPlan | None = None
    dataset: DatasetReady | None = None
    model: ModelLoaded | None = None
    stage: str = ""
    progress: Progress | None = None
    losses: list[StepLoss] = field(default_factory=list)
    evaluations: list[EpochMetrics] = field(default_factory=list)
    memory: list[GpuMemory] = field(default_factory=list)
    warnings: list[RunWarning] = field(default_factory=list)
    checkpoints: list[CheckpointSaved] = field(default_factory=list)
    predictions: ValidationPredictions | None = None
    stop_requested: StopRequested | None = None
    finished: RunFinished | None = None
    last_heartbeat: float = 0.0
    last_event_time: float = 0.0
    segments: int = 0
    first_started_time: float = 0.0
    finished_segments_seconds: float = 0.0
    events_seen: int = 0

    # -- folding -------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        self.events_seen += 1
        self.last_event_time = max(self.last_event_time, event.time)
        match event:
            case RunStarted():
                if self.started is not None and event.resumed:
                    # A resumed run continues the same log: the old ending no longer holds.
                    self.finished = None
                    self.stop_requested = None
                if self.started is None:
                    self.first_started_time = event.time
                self.started = event
                self.segments += 1
                self.last_heartbeat = event.time
            case TrainingPlan():
                self.plan = event
            case DatasetReady():
                self.dataset = event
            case ModelLoaded():
                self.model = event
            case Stage():
                self.stage = event.name
            case Progress():
                self.progress = event
            case StepLoss():
                self.losses.append(event)
            case EpochMetrics():
                self.evaluations.append(event)
            case GpuMemory():
                self.memory.append(event)
            case RunWarning():
                self.warnings.append(event)
            case CheckpointSaved():
                self.checkpoints.append(event)
            case ValidationPredictions():
                self.predictions = event
            case StopRequested():
                self.stop_requested = event
            case Heartbeat():
                self.last_heartbeat = event.time
            case RunFinished():
                self.finished = event
                self.finished_segments_seconds += event.duration_seconds
                self.stage = event.status

    def extend(self, events: list[Event]) -> RunHistory:
        for event in events:
            self.apply(event)
        return self

    @classmethod
    def from_log(cls, path: Path) -> RunHistory:
        return cls().extend(read_events(path))

    # -- derived views -------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.started.run_id if self.started else ""

    @property
    def step(self) -> int:
        return self.progress.step if self.progress else (self.plan.start_step if self.plan else 0)

    @property
    def total_steps(self) -> int:
        if self.progress:
            return self.progress.total_steps
        return self.plan.total_steps if self.plan else 0

    @property
    def fraction_done(self) -> float:
        total = self.total_steps
        return min(1.0, self.step / total) if total else 0.0

    def status(self, now: float | None = None) -> str:
        """``completed``/``stopped``/``failed`` from the log; else ``running`` or ``crashed``."""
        if self.finished is not None:
            return self.finished.status
        if self.started is None:
            return "unknown"
        return "running" if self.process_alive(now) else "crashed"

    def process_alive(self, now: float | None = None) -> bool:
        """Whether the process behind an unfinished run is still there.

        On the run's own host the process id decides; elsewhere (a shared filesystem)
        only the heartbeat can.
        """
        assert self.started is not None
        now = time.time() if now is None else now
        if self.started.host == socket.gethostname():
            if not _pid_alive(self.started.pid):
                return False
            # A recycled pid would look alive forever: the heartbeat breaks the tie.
            return now - self.last_heartbeat < STALE_SECONDS * 4
        return now - self.last_heartbeat < STALE_SECONDS

    @property
    def metric_names(self) -> list[str]:
        names: list[str] = []
        for ev in self.evaluations:
            for key in ev.metrics:
                if key not in names:
                    names.append(key)
        return names

    @property
    def headline_metric(self) -> str | None:
        """The metric a user judges this run by: the preset's ``metric_for_best_model``, else the first."""
        names = self.metric_names
        if not names:
            return None
        wanted = None
        if self.started:
            wanted = self.started.config.get("training", {}).get("metric_for_best_model")
        if wanted:
            wanted = wanted.removeprefix("eval_")
            if wanted in names:
                return wanted
        for name in names:
            if name != "loss":
                return name
        return names[0]

    def best_evaluation(self, metric: str | None = None) -> EpochMetrics | None:
        metric = metric or self.headline_metric
        scored = [ev for ev in self.evaluations if metric in ev.metrics and _finite(ev.metrics[metric])]
        if not scored:
            return None
        lower = metric in LOWER_IS_BETTER
        if self.started:
            greater = self.started.config.get("training", {}).get("greater_is_better")
            if isinstance(greater, bool):
                lower = not greater
        pick = min if lower else max
        return pick(scored, key=lambda ev: ev.metrics[metric])

    @property
    def final_metrics(self) -> dict[str, float]:
        return dict(self.evaluations[-1].metrics) if self.evaluations else {}

    def loss_summary(self) -> dict[str, float]:
        values = [s.loss for s in self.losses if _finite(s.loss)]
        if not values:
            return {}
        tail = values[-max(1, len(values) // 10) :]
        return {
            "first": values[0],
            "last": values[-1],
            "min": min(values),
            "mean_last_10pct": sum(tail) / len(tail),
            "logged_points": len(self.losses),
        }

    def peak_memory(self) -> dict[str, DeviceMemory]:
        """Highest peak seen per device, keyed ``host:index``."""
        peaks: dict[str, DeviceMemory] = {}
        for sample in self.memory:
            for dev in sample.devices:
                key = f"{dev.host}:{dev.index}"
                if key not in peaks or dev.peak > peaks[key].peak:
                    peaks[key] = dev
        return peaks

    def summary_row(self) -> dict[str, Any]:
        """One line of `fttui runs`."""
        metric = self.headline_metric
        best = self.best_evaluation(metric)
        return {
            "run_id": self.run_id,
            "preset": self.started.preset if self.started else "",
            "status": self.status(),
            "step": self.step,
            "total_steps": self.total_steps,
            "metric": metric or "",
            "value": best.metrics[metric] if best and metric else None,
            # When the run began, not when its latest segment (a resume) did.
            "started": (self.first_started_time or self.started.time) if self.started else 0.0,
        }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def load_history(run_dir: Path) -> RunHistory:
    return RunHistory.from_log(Path(run_dir) / EVENTS_FILE)
