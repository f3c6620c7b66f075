"""Where fttui keeps things: user presets, run folders, generated demo assets."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

BUILTIN_PRESETS = Path(__file__).resolve().parent.parent / "presets"

# What a run folder holds (besides events.jsonl and the Trainer's checkpoint-N/ folders).
PRESET_FILE = "preset.toml"
RESULTS_FILE = "results.toml"
MODEL_DIR = "model"
RUN_LOG = "run.log"


def home() -> Path:
    """Data root: ``$FTTUI_HOME``, else ``$XDG_DATA_HOME/fttui``, else ``~/.local/share/fttui``."""
    if os.environ.get("FTTUI_HOME"):
        return Path(os.environ["FTTUI_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "fttui"


def user_presets_dir() -> Path:
    """User presets: ``$FTTUI_HOME/presets``, else ``$XDG_CONFIG_HOME/fttui/presets``."""
    if os.environ.get("FTTUI_HOME"):
        return home() / "presets"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "fttui" / "presets"


def runs_dir() -> Path:
    return home() / "runs"


def demo_dir() -> Path:
    return home() / "demo"


def new_run_id(preset_name: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in preset_name)[:40] or "run"
    return f"{stamp}-{safe}-{secrets.token_hex(2)}"


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[-1])


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder of a run: where a resume starts.

    A checkpoint is complete once the Trainer wrote ``trainer_state.json``, the last thing it saves.
    """
    found = [
        p
        for p in Path(run_dir).glob("checkpoint-*")
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(found, key=checkpoint_step) if found else None


LOCK_FILE = ".fttui.lock"


class RunFolderBusy(RuntimeError):
    """Another live fttui process trains in this run folder."""


class RunFolderHold:
    """An exclusive claim on a run folder for as long as one process trains in it.

    An advisory ``flock`` on a file in the folder: the kernel drops it when the process
    exits, however it exits, so a crash never leaves a folder claimed.
    """

    def __init__(self, handle) -> None:
        self._handle = handle

    def __enter__(self) -> RunFolderHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def hold_run_folder(run_dir: Path) -> RunFolderHold:
    """Claim ``run_dir`` for this process, or raise :class:`RunFolderBusy` naming the holder."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RunFolderBusy(
            f"run {run_dir.name} is in use by another fttui process (pid {holder}); "
            f"wait for it, or stop it with: fttui stop {run_dir.name}"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return RunFolderHold(handle)
