"""The runs on this machine with their summaries, kept current by reading only what each log added since last time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from engine.cli import list_run_dirs
from engine.events import EVENTS_FILE, read_events_from
from engine.history import RunHistory

RECENT_RUNS = 50


class RunIndex:
    """Folds each run's event log incrementally; safe to call from several worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folds: dict[Path, tuple[RunHistory, int]] = {}

    def history(self, run_dir: Path) -> RunHistory:
        """The run's history, brought up to date with its log."""
        run_dir = Path(run_dir)
        with self._lock:
            history, offset = self._folds.get(run_dir, (RunHistory(), 0))
            path = run_dir / EVENTS_FILE
            if path.exists():
                events, offset = read_events_from(path, offset)
                history.extend(events)
            self._folds[run_dir] = (history, offset)
            return history

    def summaries(self, limit: int = RECENT_RUNS) -> list[tuple[Path, dict[str, Any]]]:
        """(run folder, ``RunHistory.summary_row()``) for the most recent runs, newest first."""
        return [(run_dir, self.history(run_dir).summary_row()) for run_dir in list_run_dirs()[:limit]]

    def live_runs(self, among: list[Path] | None = None) -> list[Path]:
        candidates = among if among is not None else list_run_dirs()[:RECENT_RUNS]
        return [d for d in candidates if self.history(d).status() == "running"]
