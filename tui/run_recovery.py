"""Carrying on after a run ended early: resume it from its last checkpoint, or retry it with less GPU memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import config as cfg
from engine.history import RunHistory
from engine.paths import PRESET_FILE, checkpoint_step, last_checkpoint

OUT_OF_MEMORY = "OutOfMemoryError"
# A stopped or crashed run resumes even without a checkpoint (from step 0); a failed one
# only from a checkpoint, since starting it over would most likely fail the same way.
RESUMABLE = ("stopped", "crashed")


def can_resume(run_dir: Path, status: str) -> bool:
    """Stopped and crashed runs can go on; a failed one only when it left a checkpoint."""
    if status in RESUMABLE:
        return True
    return status == "failed" and last_checkpoint(run_dir) is not None


def why_not_resumable(run_dir: Path, history: RunHistory) -> str:
    status = history.status()
    if spans_nodes(history) and can_resume(run_dir, status):
        return (
            f"{run_dir.name} ran on {history.started.nnodes} nodes: resume it with "
            f"`fttui resume {run_dir.name} --nnodes {history.started.nnodes} ...` on every node"
        )
    return {
        "running": f"{run_dir.name} is still running",
        "completed": f"{run_dir.name} already completed; its results.toml re-runs it as a new run",
        "failed": f"{run_dir.name} failed before saving any checkpoint: there is nothing to resume from",
        "unknown": f"{run_dir.name} has not started yet",
    }.get(status, f"{run_dir.name} cannot be resumed (status: {status})")


@dataclass(frozen=True)
class ResumePlan:
    """What resuming a run will do: from which checkpoint, with how many processes."""

    run_dir: Path
    status: str
    checkpoint: Path | None
    total_steps: int
    processes: int
    # The number of `run_started` events the log will hold once the resumed process starts.
    segment: int

    def lines(self) -> list[str]:
        name = self.run_dir.name
        if self.checkpoint is None:
            where = (
                f"{name} left no checkpoint: training starts again from step 0. "
                "Its event log still continues rather than starting over."
            )
        else:
            of = f" of {self.total_steps}" if self.total_steps else ""
            step = checkpoint_step(self.checkpoint)
            where = f"{name} ({self.status}) continues from {self.checkpoint.name} (step {step}{of})."
        lines = [
            where,
            f"Same effective preset ({PRESET_FILE} in the run folder); the event log continues "
            "and the final results cover the whole run.",
        ]
        if self.processes > 1:
            lines.append(f"{self.processes} processes (torchrun), as before.")
        return lines


def _processes_per_node(history: RunHistory) -> int:
    return max(1, history.started.nproc_per_node) if history.started else 1


def spans_nodes(history: RunHistory) -> bool:
    """A run over several nodes resumes with `fttui resume` on every node, not from one app."""
    return bool(history.started and history.started.nnodes > 1)


def resume_plan(run_dir: Path, history: RunHistory) -> ResumePlan | None:
    """How the run would resume, or None when it cannot (running, completed, failed without a checkpoint)."""
    status = history.status()
    if not can_resume(run_dir, status) or spans_nodes(history):
        return None
    return ResumePlan(
        run_dir=Path(run_dir),
        status=status,
        checkpoint=last_checkpoint(run_dir),
        total_steps=history.total_steps,
        processes=_processes_per_node(history),
        segment=history.segments + 1,
    )


def ran_out_of_memory(history: RunHistory) -> bool:
    return history.finished is not None and history.finished.error_type == OUT_OF_MEMORY


@dataclass(frozen=True)
class MemoryRetryPlan:
    """A new run from an out-of-memory run's effective preset, with a smaller batch per device."""

    run_dir: Path
    preset_path: Path
    preset_name: str
    overrides: list[str]
    changes: list[str]
    processes: int

    def lines(self) -> list[str]:
        lines = [
            f"{self.run_dir.name} ran out of GPU memory. A new run starts from its effective preset "
            f"({PRESET_FILE}) with:",
            "  " + ", ".join(self.changes),
            "The same number of examples per optimizer step, in smaller pieces.",
        ]
        if any(c.startswith("per_device_train_batch_size 1 ") for c in self.changes):
            lines.append(
                "The batch is already 1 per device: this may run out of memory again; "
                "lower [dataset] max_length or use bf16 instead."
            )
        return lines


def memory_retry_plan(run_dir: Path, history: RunHistory) -> MemoryRetryPlan:
    """Read the run's effective preset and the engine's retry rule. Raises ``PresetError``.

    Cheap (no transformers import), but it reads files: call it from a worker.
    """
    path = Path(run_dir) / PRESET_FILE
    preset = cfg.resolve(path, check_training=False)
    overrides = cfg.oom_retry_overrides(preset)
    changes = [f"{key} {old} -> {new}" for key, old, new in cfg.oom_retry_changes(preset)]
    return MemoryRetryPlan(
        run_dir=Path(run_dir),
        preset_path=path,
        preset_name=history.started.preset if history.started else Path(run_dir).name,
        overrides=overrides,
        changes=changes,
        processes=_processes_per_node(history),
    )
