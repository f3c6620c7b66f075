"""results.toml: what a run did and achieved, written atomically; the file is itself a re-runnable preset."""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

from engine.config import Preset
from engine.history import RunHistory

RESULTS_HEADER = (
    "fttui results for run {run_id}.\n"
    "This file is also a preset: `fttui run {path}` re-runs the same configuration\n"
    "(the [results] table is ignored when it is run)."
)


def _clean(value: Any) -> Any:
    """TOML has no null: drop None; keep NaN/inf (TOML spells them nan/inf)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value if v is not None]
    return value


def atomic_write_toml(path: Path, data: dict[str, Any], header: str = "") -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = tomli_w.dumps(_clean(data))
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(comment + ("\n" if comment else "") + body)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); results and presets are ordinary files.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _when(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).replace(microsecond=0)


def epoch_rows(history: RunHistory) -> list[dict[str, Any]]:
    rows = []
    previous_step = 0
    for ev in history.evaluations:
        losses = [
            s.loss for s in history.losses if previous_step < s.step <= ev.step and math.isfinite(s.loss)
        ]
        row: dict[str, Any] = {"epoch": round(ev.epoch, 4), "step": ev.step}
        if losses:
            row["train_loss"] = sum(losses) / len(losses)
        for key, value in ev.metrics.items():
            row["eval_loss" if key == "loss" else key] = value
        rows.append(row)
        previous_step = ev.step
    return rows


def build_results(
    *,
    preset: Preset,
    history: RunHistory,
    status: str,
    run_dir: Path,
    first_started: float,
    finished: float,
    active_seconds: float,
    error: str,
    last_checkpoint: str,
    best_checkpoint: str,
    final_model: str,
    train_summary: dict[str, float],
) -> dict[str, Any]:
    """The whole results document: effective preset tables plus a ``[results]`` table."""
    doc = preset.to_dict()
    start = history.started
    results: dict[str, Any] = {
        "run_id": run_dir.name,
        "status": status,
        "preset": preset.name,
        "preset_source": preset.source,
        "started_at": _when(first_started),
        "finished_at": _when(finished),
        # Time spent running, over every segment of a resumed run; wall time includes the pauses.
        "duration_seconds": round(active_seconds, 2),
        "wall_seconds": round(finished - first_started, 2),
        "segments": max(1, history.segments),
        "output_dir": str(run_dir.resolve()),
        "last_checkpoint": last_checkpoint,
        "best_checkpoint": best_checkpoint,
        "final_model": final_model,
    }
    if error:
        results["error"] = error
    if history.model is not None:
        results["metrics_source"] = history.model.metrics_source
        results["model"] = {
            "architecture": history.model.architecture,
            "parameters": history.model.parameters,
            "resolved_path": history.model.resolved_path,
            "new_weights": history.model.new_weights,
        }
    if history.dataset is not None:
        d = history.dataset
        results["data"] = {
            "train_examples": d.train_examples,
            "eval_examples": d.eval_examples,
            "eval_source": d.eval_source,
            "task": d.task,
            "labels": d.labels,
            "truncated_train_examples": d.truncated_train,
            "max_length": d.max_length,
        }
    env: dict[str, Any] = dict(start.versions) if start else {}
    if start:
        env.update(
            device=start.device,
            devices=start.devices,
            device_count=len(start.devices),
            world_size=start.world_size,
            host=start.host,
        )
    results["environment"] = env
    results["final_metrics"] = history.final_metrics
    metric = history.headline_metric
    best = history.best_evaluation(metric)
    if best is not None and metric:
        results["best"] = {
            "metric": metric,
            "value": best.metrics[metric],
            "epoch": round(best.epoch, 4),
            "step": best.step,
        }
    results["epochs"] = epoch_rows(history)
    results["training_loss"] = history.loss_summary()
    throughput: dict[str, Any] = {}
    if train_summary:
        for key in (
            "train_runtime",
            "train_samples_per_second",
            "train_steps_per_second",
            "train_loss",
            "total_flos",
        ):
            if key in train_summary:
                throughput[key] = train_summary[key]
    if history.progress is not None:
        throughput["steps"] = history.progress.step
        throughput["total_steps"] = history.progress.total_steps
        throughput["last_samples_per_second"] = history.progress.samples_per_second
    results["throughput"] = throughput
    peaks = history.peak_memory()
    results["gpu_memory"] = (
        {
            "devices": [
                {
                    "host": d.host,
                    "index": d.index,
                    "name": d.name,
                    "peak_allocated_bytes": d.peak,
                    "reserved_bytes": d.reserved,
                    "total_bytes": d.total,
                }
                for d in peaks.values()
            ]
        }
        if peaks
        else {"devices": [], "note": "no GPU"}
    )
    if history.predictions is not None:
        p = history.predictions
        results["predictions"] = {
            "labels": p.labels,
            "confusion": p.confusion,
            "metrics": p.metrics,
            "most_confident_wrong": [
                {"text": w.text, "label": w.label, "predicted": w.predicted, "confidence": w.confidence}
                for w in p.most_confident_wrong
            ],
        }
    results["warnings"] = [f"{w.category}: {w.message}" for w in history.warnings]
    results["provenance"] = dict(preset.provenance)
    doc["results"] = results
    return doc


def write_results(path: Path, data: dict[str, Any]) -> None:
    run_id = data.get("results", {}).get("run_id", "")
    atomic_write_toml(path, data, header=RESULTS_HEADER.format(run_id=run_id, path=path))


def export_results(source: Path, dest: Path) -> Path:
    """Copy a run's results to a path the user chose (atomically; the original stays)."""
    from engine.config import read_toml

    data = read_toml(source)
    dest = Path(dest).expanduser()
    if dest.is_dir():
        dest = dest / source.name
    if dest.suffix != ".toml":
        raise ValueError(f"{dest}: export needs a .toml file name")
    run_id = data.get("results", {}).get("run_id", "")
    atomic_write_toml(dest, data, header=RESULTS_HEADER.format(run_id=run_id, path=dest))
    return dest
