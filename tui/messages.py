"""Messages that background workers post to the screens: the only way their results reach widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from engine.events import Event


class RunEvents(Message):
    """New events from a run's log, in order. Never replaced: the run's history needs every one."""

    def __init__(self, run_dir: Path, events: list[Event]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.events = events


class RunTick(Message):
    """The run's history changed and the view should catch up; a backlog of ticks collapses into one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunTick)


class RunsListed(Message):
    """Every run folder with its summary row, newest first, and those that can be resumed; a newer listing replaces an older one."""

    def __init__(self, rows: list[tuple[Path, dict[str, Any]]], resumable: set[Path] | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.resumable = resumable or set()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsListed)


class MemoryRetryPlanned(Message):
    """An out-of-memory run's preset was read: the retry to confirm (a ``tui.run_recovery.MemoryRetryPlan``)."""

    def __init__(self, plan: Any) -> None:
        super().__init__()
        self.plan = plan


class DatasetPreviewed(Message):
    """The dataset a setup names was loaded: columns, first rows, labels (an ``engine.preview.DatasetPreview``)."""

    def __init__(self, preview: Any) -> None:
        super().__init__()
        self.preview = preview


class TokenLengthsMeasured(Message):
    """Token-length statistics of a sample of the training texts (``engine.data.token_length_stats``)."""

    def __init__(self, stats: dict[str, float]) -> None:
        super().__init__()
        self.stats = stats


class CachedCheckpointsFound(Message):
    """The model repositories in the local Hugging Face cache."""

    def __init__(self, checkpoints: list[Any]) -> None:
        super().__init__()
        self.checkpoints = checkpoints


class TrainingFieldsLoaded(Message):
    """Every ``TrainingArguments`` field with its help text (``engine.config.training_fields``)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields


class LookupFailed(Message):
    """A background look-up failed in a way the user can act on (bad column, hub unreachable...)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__()
        self.what = what
        self.message = message
