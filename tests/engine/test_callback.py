"""The TrainerCallback with a fake TrainerState: events, stop handling and the health watchdog."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import pytest
from transformers import TrainerControl, TrainerState

from engine import events as ev
from engine.callback import EventCallback, StepWatch
from engine.stopping import STOP_FILE

WATCHDOG = {
    "on_nan": "warn",
    "on_zero_loss": "warn",
    "zero_loss_steps": 3,
    "on_grad_explosion": "warn",
    "grad_norm_limit": 100.0,
}


def make(tmp_path, watchdog=None, main=True):
    emitted: list[ev.Event] = []
    watch = StepWatch()
    cb = EventCallback(
        emitted.append, tmp_path, dict(watchdog or WATCHDOG), stop_event=threading.Event(), watch=watch
    )
    args = SimpleNamespace(
        world_size=1,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        num_train_epochs=2,
        max_steps=-1,
        output_dir=str(tmp_path),
    )
    state = TrainerState()
    state.max_steps, state.num_train_epochs, state.global_step, state.epoch = 20, 2, 0, 0.0
    state.is_world_process_zero = main
    control = TrainerControl()
    return cb, watch, args, state, control, emitted


def kinds(emitted):
    return [type(e).__name__ for e in emitted]


def step(cb, watch, args, state, control, losses=(0.5,), grad=1.0):
    state.global_step += 1
    state.epoch = state.global_step / 10
    watch.losses.extend(losses)
    watch.grad_norm = grad
    return cb.on_step_end(args, state, control)


def test_train_begin_announces_the_plan_and_no_gpu(tmp_path):
    cb, _watch, args, state, control, out = make(tmp_path)
    cb.on_train_begin(args, state, control)
    assert kinds(out) == ["Stage", "TrainingPlan", "GpuMemory"]
    plan = out[1]
    assert (plan.total_steps, plan.num_epochs, plan.global_batch_size, plan.steps_per_epoch) == (
        20,
        2.0,
        8,
        10,
    )
    assert out[2].devices == []  # a CPU box: stated, not left out


def test_log_and_evaluate_become_typed_events(tmp_path):
    cb, _watch, args, state, control, out = make(tmp_path)
    state.global_step, state.epoch = 10, 1.0
    cb.on_log(args, state, control, logs={"loss": 0.7, "grad_norm": 1.5, "learning_rate": 1e-3, "epoch": 1.0})
    metrics = {
        "eval_loss": 0.5,
        "eval_accuracy": 0.8,
        "eval_runtime": 1.2,
        "eval_samples_per_second": 99.0,
        "eval_steps_per_second": 9.0,
        "epoch": 1.0,
    }
    cb.on_evaluate(args, state, control, metrics=metrics)
    cb.on_log(
        args,
        state,
        control,
        logs={"train_runtime": 3.0, "train_samples_per_second": 50.0, "train_loss": 0.6, "epoch": 2.0},
    )
    losses = [e for e in out if isinstance(e, ev.StepLoss)]
    assert losses == [
        ev.StepLoss(step=10, epoch=1.0, loss=0.7, learning_rate=1e-3, grad_norm=1.5, time=losses[0].time)
    ]
    (epoch,) = [e for e in out if isinstance(e, ev.EpochMetrics)]
    assert epoch.metrics == {"loss": 0.5, "accuracy": 0.8}  # runtime keys dropped
    assert "eval_runtime" in metrics  # the Trainer's dict is not changed under it
    assert cb.train_summary["train_samples_per_second"] == 50.0


def test_progress_has_rate_and_eta(tmp_path, monkeypatch):
    import engine.callback as mod

    clock = [100.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: clock[0])
    cb, watch, args, state, control, out = make(tmp_path)
    cb.on_train_begin(args, state, control)
    for _ in range(4):
        clock[0] += 0.5  # 2 steps/s, global batch 8 -> 16 samples/s
        step(cb, watch, args, state, control)
    progress = [e for e in out if isinstance(e, ev.Progress)][-1]
    assert progress.step == 4 and progress.total_steps == 20
    assert progress.samples_per_second == pytest.approx(16.0)
    assert progress.eta_seconds == pytest.approx(16 / 2.0)


def test_stop_request_stops_at_the_next_step_with_a_checkpoint(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path)
    step(cb, watch, args, state, control)
    assert not control.should_training_stop
    cb.request_stop("Ctrl+C")
    step(cb, watch, args, state, control)
    assert control.should_training_stop and control.should_save
    assert [e.reason for e in out if isinstance(e, ev.StopRequested)] == ["Ctrl+C"]
    control.should_evaluate = control.should_save = True  # what DefaultFlowCallback sets at an epoch end
    cb.on_epoch_end(args, state, control)
    assert not control.should_evaluate and not control.should_save  # mid-epoch (0.2): no evaluation


def test_a_stop_on_an_epochs_last_step_keeps_that_epochs_evaluation(tmp_path):
    cb, watch, args, state, control, _out = make(tmp_path)
    for _ in range(9):
        step(cb, watch, args, state, control)
    cb.request_stop("Ctrl+C")
    step(cb, watch, args, state, control)  # step 10 of 10: epoch 1.0 done
    assert control.should_training_stop
    control.should_evaluate = control.should_save = True
    cb.on_epoch_end(args, state, control)
    # A resume starts at epoch 2: evaluating epoch 1 now is the only chance to have its metrics.
    assert control.should_evaluate and not control.should_save


def test_stop_file_from_another_process(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path)
    (tmp_path / STOP_FILE).write_text("x")
    step(cb, watch, args, state, control)
    assert control.should_training_stop
    assert [e.reason for e in out if isinstance(e, ev.StopRequested)] == ["stop file"]


def test_nan_loss_is_reported_at_the_step_it_appears(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path)
    step(cb, watch, args, state, control, losses=(0.5,))
    step(cb, watch, args, state, control, losses=(0.4, math.nan))  # second micro-batch of step 2
    warnings = [e for e in out if isinstance(e, ev.RunWarning)]
    assert [(w.category, w.step) for w in warnings] == [("nan_loss", 2)]
    assert not control.should_training_stop  # on_nan = "warn"
    step(cb, watch, args, state, control, losses=(math.nan,))
    assert len([e for e in out if isinstance(e, ev.RunWarning)]) == 1  # not repeated every step


def test_nan_loss_stops_the_run_when_the_preset_says_so(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path, {**WATCHDOG, "on_nan": "stop"})
    step(cb, watch, args, state, control, losses=(math.inf,))
    assert control.should_training_stop and control.should_save
    assert out[-1].reason.startswith("watchdog: loss inf at step 1")


def test_zero_loss_stuck_is_reported_once(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path)
    for _ in range(2):
        step(cb, watch, args, state, control, losses=(0.0,))
    assert not [e for e in out if isinstance(e, ev.RunWarning)]
    step(cb, watch, args, state, control, losses=(0.0,))
    step(cb, watch, args, state, control, losses=(0.0,))
    warnings = [e for e in out if isinstance(e, ev.RunWarning)]
    assert [(w.category, w.step) for w in warnings] == [("zero_loss", 3)]


def test_exploding_gradient_norm(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path, {**WATCHDOG, "on_grad_explosion": "stop"})
    step(cb, watch, args, state, control, grad=5.0)
    step(cb, watch, args, state, control, grad=1e6)
    warnings = [e for e in out if isinstance(e, ev.RunWarning)]
    assert [(w.category, w.step) for w in warnings] == [("grad_explosion", 2)]
    assert "1e+06" in warnings[0].message
    assert control.should_training_stop


def test_only_the_main_process_writes(tmp_path):
    cb, watch, args, state, control, out = make(tmp_path, main=False)
    cb.on_train_begin(args, state, control)
    step(cb, watch, args, state, control, losses=(math.nan,))
    cb.on_log(args, state, control, logs={"loss": 0.1})
    assert out == []


def test_plan_with_max_steps_counts_epochs_covered_not_steps(tmp_path):
    # 60 steps of a 188-step epoch (the demo's 6000 examples at batch 32): 0.32 epochs, not 60.
    cb, _watch, args, state, control, out = make(tmp_path)
    args.max_steps, args.gradient_accumulation_steps = 60, 1
    state.max_steps, state.num_train_epochs = 60, 1  # what the Trainer sets: the epochs begun, rounded up
    loader = type("Loader", (), {"dataset": range(6000), "__len__": lambda self: 188})()
    cb.on_train_begin(args, state, control, train_dataloader=loader)
    plan = next(e for e in out if isinstance(e, ev.TrainingPlan))
    assert plan.steps_per_epoch == 188 and plan.train_examples == 6000
    assert plan.num_epochs == pytest.approx(60 / 188)


def test_plan_steps_per_epoch_counts_accumulation(tmp_path):
    cb, _watch, args, state, control, out = make(tmp_path)  # 2 epochs, accumulation 2
    state.max_steps = 12  # 2 epochs of ceil(11 batches / 2) steps
    loader = type("Loader", (), {"dataset": range(84), "__len__": lambda self: 11})()  # 11 batches
    cb.on_train_begin(args, state, control, train_dataloader=loader)
    plan = next(e for e in out if isinstance(e, ev.TrainingPlan))
    assert (plan.num_epochs, plan.steps_per_epoch) == (2.0, 6)
