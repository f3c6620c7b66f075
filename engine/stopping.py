"""Asking a run to stop gracefully, from any process: a STOP file in its run folder, polled every step.

Kept free of heavy imports so the app can stop a run without loading transformers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

STOP_FILE = "STOP"


def stop_file(run_dir: Path) -> Path:
    return Path(run_dir) / STOP_FILE


def request_stop(run_dir: Path) -> None:
    """Ask the run writing to ``run_dir`` to stop after its current step (works across processes and hosts)."""
    stop_file(run_dir).write_text(f"{os.getpid()} {time.time()}\n", encoding="utf-8")
