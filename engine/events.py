"""The events a run emits, and their JSON-lines form: the one interface between engine and UI.

Every event is a frozen dataclass. On disk each is one JSON object per line with two
envelope keys, ``"event"`` (the type name below) and ``"schema"`` (``SCHEMA_VERSION``),
plus ``"time"`` (Unix seconds) and the event's own fields. ``engine/EVENTS.md`` documents
the schema for readers outside Python.

This module imports nothing heavy: the TUI, ``attach`` and ``fttui runs`` all read logs
through it without loading torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

SCHEMA_VERSION = 1
EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class Event:
    """Base of every event; ``time`` is when it happened (Unix seconds)."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class RunStarted(Event):
    """First line of every log: who runs what, where, with which effective preset."""

    kind: ClassVar[str] = "run_started"
    run_id: str
    preset: str
    config: dict[str, Any]
    provenance: dict[str, str]
    output_dir: str
    device: str
    devices: list[str]
    pid: int
    host: str
    world_size: int = 1
    nproc_per_node: int = 1
    nnodes: int = 1
    versions: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    trust_remote_code: bool = False
    resumed: bool = False


@dataclass(frozen=True)
class Stage(Event):
    """A setup or wrap-up phase began (loading data, loading model, predicting...)."""

    kind: ClassVar[str] = "stage"
    name: str
    detail: str = ""


@dataclass(frozen=True)
class DatasetReady(Event):
    """Data is loaded, labelled and tokenized."""

    kind: ClassVar[str] = "dataset_ready"
    train_examples: int
    eval_examples: int
    task: str
    labels: list[str]
    text_columns: list[str]
    eval_source: str
    truncated_train: int = 0
    max_length: int = 0


@dataclass(frozen=True)
class ModelLoaded(Event):
    """The checkpoint is loaded; ``new_weights`` lists parameters initialised fresh (the head)."""

    kind: ClassVar[str] = "model_loaded"
    checkpoint: str
    resolved_path: str
    architecture: str
    parameters: int
    num_labels: int
    new_weights: list[str] = field(default_factory=list)
    unexpected_weights: list[str] = field(default_factory=list)
    mismatched_weights: list[str] = field(default_factory=list)
    metrics_source: str = ""


@dataclass(frozen=True)
class TrainingPlan(Event):
    """Known once the Trainer starts: how many steps and epochs this run will take."""

    kind: ClassVar[str] = "training_plan"
    total_steps: int
    num_epochs: float
    train_examples: int
    global_batch_size: int
    steps_per_epoch: int
    precision: str
    start_step: int = 0


@dataclass(frozen=True)
class Progress(Event):
    """Where training stands; ``samples_per_second`` is global (all processes)."""

    kind: ClassVar[str] = "progress"
    step: int
    total_steps: int
    epoch: float
    samples_per_second: float
    eta_seconds: float | None
    elapsed_seconds: float


@dataclass(frozen=True)
class StepLoss(Event):
    """A training-loss log line: mean loss since the previous one."""

    kind: ClassVar[str] = "step_loss"
    step: int
    epoch: float
    loss: float
    learning_rate: float | None = None
    grad_norm: float | None = None


@dataclass(frozen=True)
class EpochMetrics(Event):
    """Validation metrics of one evaluation (``loss`` is the validation loss)."""

    kind: ClassVar[str] = "epoch_metrics"
    step: int
    epoch: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class DeviceMemory:
    """One accelerator's memory in bytes; ``used`` is device-wide (NVML), None without NVML."""

    index: int
    name: str
    allocated: int
    reserved: int
    peak: int
    total: int
    used: int | None = None
    host: str = ""


@dataclass(frozen=True)
class GpuMemory(Event):
    """Memory of every local accelerator; an empty list means the run has no GPU."""

    kind: ClassVar[str] = "gpu_memory"
    step: int
    devices: list[DeviceMemory]


@dataclass(frozen=True)
class RunWarning(Event):
    """Something the user should see: NaN loss, a fresh head, fp16 on a CPU, ..."""

    kind: ClassVar[str] = "warning"
    category: str
    message: str
    step: int | None = None


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint_saved"
    step: int
    path: str


@dataclass(frozen=True)
class StopRequested(Event):
    """A graceful stop was asked for; training ends after the current step."""

    kind: ClassVar[str] = "stop_requested"
    reason: str
    step: int | None = None


@dataclass(frozen=True)
class WrongExample:
    """A validation example the model got wrong, with how sure it was."""

    text: str
    label: str
    predicted: str
    confidence: float


@dataclass(frozen=True)
class ValidationPredictions(Event):
    """``trainer.predict`` on the validation split, summarised."""

    kind: ClassVar[str] = "validation_predictions"
    labels: list[str]
    confusion: list[list[int]]
    most_confident_wrong: list[WrongExample]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Heartbeat(Event):
    """Written every few seconds by a live run; its absence marks a run whose process died."""

    kind: ClassVar[str] = "heartbeat"
    pid: int
    step: int = 0


# RunFinished.error_type of a preset or data problem: the user's to fix, not a bug (exit code 2).
BAD_INPUT = "bad input"


@dataclass(frozen=True)
class RunFinished(Event):
    """Last line of a log: ``status`` is ``completed``, ``stopped`` or ``failed``."""

    kind: ClassVar[str] = "run_finished"
    status: str
    duration_seconds: float
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    results_path: str = ""
    last_checkpoint: str = ""
    best_checkpoint: str = ""


@dataclass(frozen=True)
class UnknownEvent(Event):
    """A line from a newer fttui: kept so readers can skip it without losing their place."""

    kind: ClassVar[str] = "unknown"
    name: str
    payload: dict[str, Any]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        Stage,
        DatasetReady,
        ModelLoaded,
        TrainingPlan,
        Progress,
        StepLoss,
        EpochMetrics,
        GpuMemory,
        RunWarning,
        CheckpointSaved,
        StopRequested,
        ValidationPredictions,
        Heartbeat,
        RunFinished,
    )
}

_NESTED = {"devices": DeviceMemory, "most_confident_wrong": WrongExample}


def _json_safe(value: Any) -> Any:
    # JSON has no NaN/inf; a NaN loss is exactly what a reader must see, so spell it out.
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _float_or_marker(value: Any) -> Any:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, dict):
        return {k: _float_or_marker(v) for k, v in value.items()}
    return value


def to_json(event: Event) -> str:
    """One line of the event log (no trailing newline)."""
    body = {"event": event.kind, "schema": SCHEMA_VERSION}
    body.update(_json_safe(dataclasses.asdict(event)))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


_FLOAT_FIELDS_CACHE: dict[type, set[str]] = {}


def _float_fields(cls: type) -> set[str]:
    if cls not in _FLOAT_FIELDS_CACHE:
        hints = typing.get_type_hints(cls)
        _FLOAT_FIELDS_CACHE[cls] = {
            name for name, hint in hints.items() if "float" in str(hint) and name != "time"
        }
    return _FLOAT_FIELDS_CACHE[cls]


def from_json(line: str) -> Event:
    """Parse one log line. Raises ValueError on a malformed line."""
    try:
        body = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON object: {exc.msg}") from None
    if not isinstance(body, dict) or "event" not in body:
        raise ValueError("not an fttui event (no 'event' key)")
    name = body.pop("event")
    body.pop("schema", None)
    cls = EVENT_TYPES.get(name)
    if cls is None:
        return UnknownEvent(name=name, payload=body, time=body.get("time", 0.0))
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in body.items() if k in known}
    for key in _float_fields(cls) & kwargs.keys():
        kwargs[key] = _float_or_marker(kwargs[key])
    for key, nested in _NESTED.items():
        if key in kwargs and isinstance(kwargs[key], list):
            nested_known = {f.name for f in dataclasses.fields(nested)}
            kwargs[key] = [
                nested(**{k: v for k, v in item.items() if k in nested_known}) for item in kwargs[key]
            ]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad '{name}' event: {exc}") from None


class EventLog:
    """Appends events to ``events.jsonl``, flushed line by line, safe to call from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Line-buffered append: a crash loses at most the line being written.
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = to_json(event) + "\n"
        with self._lock:
            if not self._file.closed:
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()


def read_events(path: Path) -> list[Event]:
    """Every event in a log. A torn last line (a crash mid-write) is skipped, not fatal."""
    events, _ = read_events_from(path, 0)
    return events


def read_events_from(path: Path, offset: int) -> tuple[list[Event], int]:
    """Events starting at byte ``offset``; returns them and the offset to continue from.

    Only complete lines are consumed, so a follower never sees half an event.
    """
    events: list[Event] = []
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    consumed = 0
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break
        consumed += len(raw)
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            events.append(from_json(text))
        except ValueError:
            continue
    return events, offset + consumed


def follow(
    path: Path, poll: float = 0.2, stop: threading.Event | None = None, offset: int = 0
) -> Iterator[list[Event]]:
    """Yield batches of new events as a log grows, until ``stop`` is set or the run finishes.

    ``offset``: where to begin, in bytes; a resume follows from the end of the earlier segments.
    """
    while stop is None or not stop.is_set():
        if Path(path).exists():
            events, offset = read_events_from(path, offset)
            if events:
                yield events
                if isinstance(events[-1], RunFinished):
                    return
                continue
        if stop is not None:
            stop.wait(poll)
        else:
            time.sleep(poll)
