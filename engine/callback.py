"""The TrainerCallback that turns Trainer hooks into fttui events, watches run health and honours stop requests.

Shaped after transformers' NotebookProgressCallback: ``on_step_end`` advances progress,
``on_log`` carries loss / grad norm / learning rate, ``on_evaluate`` carries metrics
minus runtime keys. Only the main process writes events; every process takes part in
the collective calls (stop flag, memory gather) at the same steps, so none can hang.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from engine import gpu
from engine.events import (
    CheckpointSaved,
    EpochMetrics,
    Event,
    GpuMemory,
    Progress,
    RunWarning,
    Stage,
    StepLoss,
    StopRequested,
    TrainingPlan,
)
from engine.stopping import STOP_FILE

RUNTIME_KEYS = ("runtime", "samples_per_second", "steps_per_second", "epoch")
PROGRESS_INTERVAL = 0.25
MEMORY_INTERVAL = 5.0


class StepWatch:
    """What the Trainer subclass saw during the last optimizer step (loss per micro-batch, grad norm)."""

    def __init__(self) -> None:
        self.losses: list[Any] = []
        self.grad_norm: Any = None

    def take(self) -> tuple[list[float], float | None]:
        losses = [float(v) for v in self.losses]
        norm = self.grad_norm
        self.losses, self.grad_norm = [], None
        if norm is not None and hasattr(norm, "item"):
            norm = norm.item()
        return losses, (float(norm) if norm is not None else None)


class EventCallback(TrainerCallback):
    def __init__(
        self,
        emit: Callable[[Event], None],
        run_dir: Path,
        watchdog: dict[str, Any],
        stop_event: threading.Event | None = None,
        precision: str = "fp32",
        watch: StepWatch | None = None,
        elapsed_offset: float = 0.0,
    ):
        self.emit = emit
        self.run_dir = Path(run_dir)
        self.watchdog = watchdog
        self.stop_event = stop_event or threading.Event()
        self.stop_reason = ""
        self.precision = precision
        self.watch = watch
        self.elapsed_offset = elapsed_offset
        self.train_summary: dict[str, float] = {}
        self.stopped = False
        self.last_step = 0
        self._window: collections.deque[tuple[float, int]] = collections.deque(maxlen=50)
        self._last_progress = 0.0
        self._last_progress_step = -1
        self._last_rate = 0.0
        self._last_memory = 0.0
        self._eval_started: float | None = None
        self._eval_seconds: list[float] = []
        self._train_started = 0.0
        self._zero_steps = 0
        self._nan_reported_at: int | None = None
        self._explosion_reported = False
        self._global_batch = 1
        self._world = 1
        self._steps_per_epoch = 0

    # -- helpers ------------------------------------------------------------------------------

    def request_stop(self, reason: str) -> None:
        """Ask for a graceful stop (thread- and signal-safe: only sets a flag)."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def _stop_wanted(self, state: Any) -> bool:
        local = self.stop_event.is_set() or (self.run_dir / STOP_FILE).exists()
        if local and not self.stop_reason:
            self.stop_reason = "stop file" if (self.run_dir / STOP_FILE).exists() else "stop requested"
        if self._world > 1:
            # Every process must leave the loop at the same step or the next all-reduce hangs.
            import torch
            import torch.distributed as dist

            device = "cuda" if torch.cuda.is_available() and dist.get_backend() == "nccl" else "cpu"
            flag = torch.tensor([1 if local else 0], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            return bool(flag.item())
        return local

    def _is_main(self, state: Any) -> bool:
        return bool(state.is_world_process_zero)

    def _emit(self, state: Any, event: Event) -> None:
        if self._is_main(state):
            self.emit(event)

    # -- lifecycle -----------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        self._world = max(1, args.world_size)
        self._global_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * self._world
        self._train_started = time.monotonic()
        self._window.clear()
        self._window.append((self._train_started, state.global_step))
        train_examples = 0
        loader = kwargs.get("train_dataloader")
        if loader is not None and hasattr(loader, "dataset"):
            try:
                train_examples = len(loader.dataset)
            except TypeError:
                train_examples = 0
        self._steps_per_epoch = _steps_per_epoch(args, state, loader)
        if args.max_steps > 0:
            # state.num_train_epochs is then the epochs *begun*, rounded up (1 for 60 of 188 steps):
            # the epochs covered are the steps over one epoch's steps (0.32).
            epochs = state.max_steps / self._steps_per_epoch if self._steps_per_epoch else 0.0
        else:
            epochs = float(args.num_train_epochs)
        self._emit(state, Stage("training"))
        self._emit(
            state,
            TrainingPlan(
                total_steps=int(state.max_steps),
                num_epochs=epochs,
                train_examples=train_examples,
                global_batch_size=self._global_batch,
                steps_per_epoch=self._steps_per_epoch,
                precision=self.precision,
                start_step=int(state.global_step),
            ),
        )
        self._memory(state, force=True)

    def on_step_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        self.last_step = state.global_step
        self._window.append((now, state.global_step))
        if self.watch is not None:
            self._check_health(state, control)
        if now - self._last_progress >= PROGRESS_INTERVAL or state.global_step >= state.max_steps:
            self._progress(state, now)
        if self._world == 1 and now - self._last_memory >= MEMORY_INTERVAL:
            self._memory(state)
        if not self.stopped and self._stop_wanted(state):
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True  # the checkpoint a resume will start from
            self._emit(
                state, StopRequested(reason=self.stop_reason or "stop requested", step=state.global_step)
            )
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped:
            # The checkpoint is written at the stop step, so no second save. A stop mid-epoch skips
            # the evaluation (it would only delay the exit, and the epoch is not done); a stop on an
            # epoch's last step keeps it: the resume starts with the next epoch, and this epoch's
            # metrics would otherwise be missing from the run for good.
            epoch = float(state.epoch or 0.0)
            if abs(epoch - round(epoch)) > 1e-6 or epoch == 0:
                control.should_evaluate = False
            control.should_save = False
        self._progress(state, time.monotonic())
        return control

    def on_prediction_step(self, args, state, control, **kwargs):
        if self._eval_started is None:
            self._eval_started = time.monotonic()

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self._eval_started is not None:
            self._eval_seconds.append(time.monotonic() - self._eval_started)
            self._eval_started = None
        # Evaluation time is not training time: restart the throughput window after it.
        self._window.clear()
        self._window.append((time.monotonic(), state.global_step))
        if not metrics:
            return
        clean = {}
        for key, value in dict(metrics).items():
            name = key.removeprefix("eval_")
            if name in RUNTIME_KEYS or not isinstance(value, (int, float)):
                continue
            clean[name] = float(value)
        self._emit(
            state, EpochMetrics(step=state.global_step, epoch=float(state.epoch or 0.0), metrics=clean)
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        if "train_runtime" in logs:
            self.train_summary = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
        elif "loss" in logs:
            loss = float(logs["loss"])
            grad = logs.get("grad_norm")
            self._emit(
                state,
                StepLoss(
                    step=state.global_step,
                    epoch=float(logs.get("epoch", state.epoch or 0.0)),
                    loss=loss,
                    learning_rate=_float(logs.get("learning_rate")),
                    grad_norm=_float(grad),
                ),
            )
            if self.watch is None:
                # Without per-step figures the logged ones are the watchdog's best source.
                self._check_values(state, control, [loss], _float(grad))
        # on_log is reached by every process at the same steps: the one safe place to gather memory.
        self._memory(state, force=True)

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self._emit(state, CheckpointSaved(step=state.global_step, path=str(path)))

    def on_train_end(self, args, state, control, **kwargs):
        self._progress(state, time.monotonic())
        self._memory(state, force=True)

    # -- figures -------------------------------------------------------------------------------

    def steps_per_second(self) -> float:
        if len(self._window) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._window[0], self._window[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _progress(self, state: Any, now: float) -> None:
        if state.global_step == self._last_progress_step:
            return
        self._last_progress = now
        self._last_progress_step = state.global_step
        # Right after an evaluation the window is empty: the last measured rate still holds.
        rate = self.steps_per_second() or self._last_rate
        self._last_rate = rate
        remaining = max(0, state.max_steps - state.global_step)
        eta = None
        if rate > 0:
            eta = remaining / rate
            if self._eval_seconds and self._steps_per_epoch:
                evals_left = math.ceil(remaining / self._steps_per_epoch)
                eta += evals_left * (sum(self._eval_seconds) / len(self._eval_seconds))
        self._emit(
            state,
            Progress(
                step=int(state.global_step),
                total_steps=int(state.max_steps),
                epoch=float(state.epoch or 0.0),
                samples_per_second=rate * self._global_batch,
                eta_seconds=eta,
                elapsed_seconds=self.elapsed_offset + now - self._train_started,
            ),
        )

    def _memory(self, state: Any, force: bool = False) -> None:
        self._last_memory = time.monotonic()
        devices = gpu.sample_all_ranks(self._world) if self._world > 1 else gpu.sample()
        if devices or force:
            self._emit(state, GpuMemory(step=int(state.global_step), devices=devices))

    # -- health watchdog ---------------------------------------------------------------------------

    def _check_health(self, state: Any, control: Any) -> None:
        assert self.watch is not None
        losses, grad_norm = self.watch.take()
        self._check_values(state, control, losses, grad_norm)

    def _check_values(self, state: Any, control: Any, losses: list[float], grad_norm: float | None) -> None:
        step = state.global_step
        bad = [v for v in losses if not math.isfinite(v)]
        # Report the first NaN at once, then at most every 50 steps: a NaN run repeats itself.
        if bad and (self._nan_reported_at is None or step - self._nan_reported_at >= 50):
            self._nan_reported_at = step
            self._warn(state, "nan_loss", f"training loss is {bad[0]} at step {step}", step)
            if self.watchdog.get("on_nan") == "stop":
                self.request_stop(f"watchdog: loss {bad[0]} at step {step}")
        if losses and all(v == 0.0 for v in losses):
            self._zero_steps += 1
            if self._zero_steps == self.watchdog.get("zero_loss_steps", 20):
                self._warn(
                    state,
                    "zero_loss",
                    f"training loss has been exactly 0 for {self._zero_steps} steps (labels leaking into inputs? one class only?)",
                    step,
                )
                if self.watchdog.get("on_zero_loss") == "stop":
                    self.request_stop(f"watchdog: loss stuck at 0 since step {step - self._zero_steps + 1}")
        elif losses:
            self._zero_steps = 0
        limit = float(self.watchdog.get("grad_norm_limit", 1e4))
        exploded = grad_norm is not None and (not math.isfinite(grad_norm) or grad_norm > limit)
        if exploded and not self._explosion_reported:
            self._explosion_reported = True
            self._warn(
                state,
                "grad_explosion",
                f"gradient norm {grad_norm:.4g} at step {step} exceeds {limit:g} (lower learning_rate, or set max_grad_norm)",
                step,
            )
            if self.watchdog.get("on_grad_explosion") == "stop":
                self.request_stop(f"watchdog: gradient norm {grad_norm:.4g} at step {step}")

    def _warn(self, state: Any, category: str, message: str, step: int | None) -> None:
        self._emit(state, RunWarning(category=category, message=message, step=step))


def _steps_per_epoch(args: Any, state: Any, loader: Any) -> int:
    """Optimizer steps in one pass over the data, as the Trainer counts them; 0 where unknown."""
    try:
        batches = len(loader)
    except TypeError:  # no loader, or an iterable dataset without a length
        batches = 0
    if batches:
        return max(1, math.ceil(batches / max(1, args.gradient_accumulation_steps)))
    if args.max_steps <= 0 and state.max_steps and args.num_train_epochs > 0:
        # Epoch-based: the Trainer set max_steps = ceil(epochs x steps per epoch).
        return max(1, round(state.max_steps / args.num_train_epochs))
    return 0


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
