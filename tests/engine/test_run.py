"""End-to-end runs of the real Trainer on the demo's tiny BERT: events, results, stop, resume, crashes, watchdog."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import config as cfg
from engine import events as ev
from engine import runner
from engine.config import tomllib
from engine.history import load_history
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

SMALL = [
    "dataset.max_train_samples=96",
    "dataset.max_eval_samples=64",
    "training.num_train_epochs=2",
    "training.per_device_train_batch_size=16",
    "training.logging_steps=2",
]


def small_preset(*extra: str) -> cfg.Preset:
    return cfg.resolve("demo", [*SMALL, *extra])


def events_of(run_dir: Path) -> list[ev.Event]:
    return ev.read_events(run_dir / ev.EVENTS_FILE)


def test_demo_run_end_to_end(demo_home, tmp_path):
    run_dir = tmp_path / "run"
    outcome = runner.run(small_preset(), run_dir=run_dir)
    assert outcome.status == "completed", outcome.error
    log = events_of(run_dir)
    names = [type(e).__name__ for e in log]
    assert names[0] == "RunStarted" and names[-1] == "RunFinished"
    for expected in (
        "DatasetReady",
        "ModelLoaded",
        "TrainingPlan",
        "Progress",
        "StepLoss",
        "EpochMetrics",
        "GpuMemory",
        "CheckpointSaved",
        "ValidationPredictions",
    ):
        assert expected in names, expected
    started = log[0]
    assert started.config["training"]["num_train_epochs"] == 2
    assert started.provenance["training.num_train_epochs"] == "--set training.num_train_epochs=2"
    assert "CPU" in started.device and started.devices == []
    model = next(e for e in log if isinstance(e, ev.ModelLoaded))
    assert set(model.new_weights) == {"classifier.weight", "classifier.bias"}
    load_report = [e for e in log if isinstance(e, ev.RunWarning) and e.category == "load_report"]
    assert "a fresh classification head" in load_report[0].message
    epochs = [e for e in log if isinstance(e, ev.EpochMetrics)]
    assert [round(e.epoch) for e in epochs] == [1, 2]
    assert set(epochs[0].metrics) == {"loss", "accuracy", "f1"}
    plan = next(e for e in log if isinstance(e, ev.TrainingPlan))
    assert plan.total_steps == 12 and plan.global_batch_size == 16

    results = tomllib.loads((run_dir / "results.toml").read_text())
    r = results["results"]
    assert r["status"] == "completed"
    assert r["final_metrics"]["accuracy"] == epochs[-1].metrics["accuracy"]
    assert [row["step"] for row in r["epochs"]] == [6, 12]
    assert r["data"]["labels"] == ["negative", "positive"]
    assert r["environment"]["torch"] and r["environment"]["transformers"]
    assert r["gpu_memory"]["note"] == "no GPU"
    assert sum(map(sum, r["predictions"]["confusion"])) == 64
    assert r["throughput"]["train_samples_per_second"] > 0
    assert r["training_loss"]["logged_points"] == 6
    assert Path(r["last_checkpoint"]).name == "checkpoint-12"
    # the saved model predicts label names, not LABEL_0/LABEL_1
    import json

    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (run_dir / "preset.toml").exists()


def test_the_demo_as_shipped_learns_for_real(demo_home, tmp_path):
    """The README's `fttui run demo`, untrimmed: far above chance (0.5), and its mistakes listed."""
    run_dir = tmp_path / "demo"
    proc = run_cli("run", "demo", "--output-dir", str(run_dir), "--plain", env={"FTTUI_HOME": str(demo_home)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = tomllib.loads((run_dir / "results.toml").read_text())["results"]
    assert r["final_metrics"]["accuracy"] >= 0.85, r["final_metrics"]
    confusion = r["predictions"]["confusion"]
    mistakes = sum(map(sum, confusion)) - confusion[0][0] - confusion[1][1]
    assert len(r["predictions"]["most_confident_wrong"]) == min(mistakes, runner.WRONG_EXAMPLES)


def test_results_file_reruns_the_same_configuration_with_the_same_metrics(demo_home, tmp_path):
    first = tmp_path / "first"
    assert runner.run(small_preset(), run_dir=first).status == "completed"
    again = tmp_path / "again"
    proc = run_cli("run", str(first / "results.toml"), "--output-dir", str(again), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a = tomllib.loads((first / "results.toml").read_text())
    b = tomllib.loads((again / "results.toml").read_text())
    for table in ("model", "dataset", "metrics", "training", "watchdog"):
        assert a[table] == b[table]
    assert a["results"]["final_metrics"] == b["results"]["final_metrics"]
    assert [row["train_loss"] for row in a["results"]["epochs"]] == [
        row["train_loss"] for row in b["results"]["epochs"]
    ]
    # plain output for pipes: no carriage returns, no Trainer dict printing, no tqdm bars
    assert "\r" not in proc.stdout
    assert "{'loss'" not in proc.stdout and "it/s]" not in proc.stdout + proc.stderr
    assert "epoch 2.00 (step 12)" in proc.stdout


def test_stop_request_from_the_caller(demo_home, tmp_path):
    stop = threading.Event()
    asked_at: list[int] = []

    def sink(event):
        # Progress is throttled by time, so the first one may come at any step; the stop must land
        # on the very step whose progress asked for it (the check runs at the end of that step).
        if isinstance(event, ev.Progress) and not stop.is_set():
            asked_at.append(event.step)
            stop.set()

    # trust_remote_code rides along: the run must say plainly that it is on.
    preset = small_preset("model.trust_remote_code=true")
    outcome = runner.run(preset, run_dir=tmp_path / "run", sink=sink, stop_event=stop)
    assert outcome.status == "stopped"
    log = events_of(tmp_path / "run")
    stopped = next(e for e in log if isinstance(e, ev.StopRequested))
    assert stopped.step == asked_at[0] < 12
    assert (tmp_path / "run" / f"checkpoint-{stopped.step}" / "trainer_state.json").exists()
    assert not any(
        isinstance(e, ev.EpochMetrics) and e.step == stopped.step for e in log
    )  # no eval after a stop
    results = tomllib.loads((tmp_path / "run" / "results.toml").read_text())["results"]
    assert results["status"] == "stopped"
    assert log[0].trust_remote_code is True
    assert any(isinstance(e, ev.RunWarning) and e.category == "trust_remote_code" for e in log)


def _spawn_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "run",
            "demo",
            "--output-dir",
            str(run_dir),
            "--plain",
            *[x for s in SMALL for x in ("--set", s)],
            "--set",
            "training.num_train_epochs=4",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / ev.EVENTS_FILE).exists() and load_history(run_dir).step >= step:
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    raise AssertionError(f"run did not reach step {step}")


def test_sigterm_stops_gracefully_and_resume_completes_the_run(demo_home, tmp_path):
    run_dir = tmp_path / "run"
    proc = _spawn_run(run_dir)
    _wait_for_step(run_dir, 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, out  # exit code 3: stopped
    first = load_history(run_dir)
    assert first.status() == "stopped"
    stop_step = first.stop_requested.step
    assert (run_dir / f"checkpoint-{stop_step}").is_dir()

    proc = run_cli("resume", str(run_dir), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    history = load_history(run_dir)
    assert history.status() == "completed"
    assert history.segments == 2
    starts = [e for e in events_of(run_dir) if isinstance(e, ev.RunStarted)]
    assert [s.resumed for s in starts] == [False, True]
    plans = [e for e in events_of(run_dir) if isinstance(e, ev.TrainingPlan)]
    assert plans[-1].start_step == stop_step  # continued, not restarted
    elapsed = [e.elapsed_seconds for e in events_of(run_dir) if isinstance(e, ev.Progress)]
    assert elapsed == sorted(elapsed)  # one clock over both segments
    reports = [e for e in events_of(run_dir) if isinstance(e, ev.RunWarning) and e.category == "load_report"]
    assert len(reports) == 1  # the resumed segment gets its head from the checkpoint, not fresh
    assert history.step == history.total_steps == 24
    results = tomllib.loads((run_dir / "results.toml").read_text())["results"]
    assert results["status"] == "completed" and results["segments"] == 2
    assert [round(row["epoch"]) for row in results["epochs"]] == [1, 2, 3, 4]  # the whole run, both segments
    assert results["training_loss"]["logged_points"] == 12
    assert results["duration_seconds"] <= results["wall_seconds"]


def _stopped_on_step(tmp_path, monkeypatch, step: int) -> Path:
    """A SMALL run stopped on ``step``, as a stop request seen at that step would stop it."""
    from engine.callback import EventCallback

    monkeypatch.setattr(EventCallback, "_stop_wanted", lambda self, state: state.global_step == step)
    run_dir = tmp_path / "run"
    assert runner.run(small_preset(), run_dir=run_dir).status == "stopped"
    monkeypatch.undo()
    return run_dir


def test_a_stop_on_an_epoch_boundary_keeps_that_epochs_metrics_across_the_resume(
    demo_home, tmp_path, monkeypatch
):
    # SMALL: 96 examples in batches of 16 = 6 steps an epoch; stop on step 6, the epoch's last.
    run_dir = _stopped_on_step(tmp_path, monkeypatch, 6)
    assert [round(e.epoch) for e in events_of(run_dir) if isinstance(e, ev.EpochMetrics)] == [1]
    assert runner.run(small_preset(), run_dir=run_dir, resume=True).status == "completed"
    results = tomllib.loads((run_dir / "results.toml").read_text())["results"]
    assert [round(row["epoch"]) for row in results["epochs"]] == [1, 2]


def test_killed_process_shows_as_crashed_and_can_be_resumed(demo_home, tmp_path):
    run_dir = tmp_path / "run"
    proc = _spawn_run(run_dir, "--set", "training.save_strategy=steps", "--set", "training.save_steps=2")
    _wait_for_step(run_dir, 5, proc)
    proc.kill()
    proc.wait()
    history = load_history(run_dir)
    assert history.finished is None
    assert history.status() == "crashed"
    proc = run_cli("resume", str(run_dir), "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert load_history(run_dir).status() == "completed"


def _forced_loss_run(tmp_path, monkeypatch, factor: float, *extra: str):
    from transformers import Trainer

    original = Trainer.compute_loss

    def forced(self, model, inputs, return_outputs=False, **kw):
        out = original(self, model, inputs, return_outputs=return_outputs, **kw)
        if not model.training:
            return out
        if return_outputs:
            loss, outputs = out
            return loss * factor, outputs
        return out * factor

    monkeypatch.setattr(Trainer, "compute_loss", forced)
    run_dir = tmp_path / "run"
    outcome = runner.run(small_preset("training.num_train_epochs=1", *extra), run_dir=run_dir)
    return outcome, events_of(run_dir)


def test_forced_nan_loss_is_reported_at_the_first_step(demo_home, tmp_path, monkeypatch):
    outcome, log = _forced_loss_run(tmp_path, monkeypatch, math.nan)
    warnings = [e for e in log if isinstance(e, ev.RunWarning) and e.category == "nan_loss"]
    assert warnings and warnings[0].step == 1
    assert outcome.status == "completed"  # on_nan = "warn" by default


def test_forced_nan_loss_stops_when_the_preset_says_so(demo_home, tmp_path, monkeypatch):
    outcome, log = _forced_loss_run(tmp_path, monkeypatch, math.nan, "watchdog.on_nan=stop")
    assert outcome.status == "stopped"
    stop = next(e for e in log if isinstance(e, ev.StopRequested))
    assert stop.reason == "watchdog: loss nan at step 1" and stop.step == 1
    assert (tmp_path / "run" / "checkpoint-1").is_dir()


def test_forced_zero_loss_is_reported(demo_home, tmp_path, monkeypatch):
    _outcome, log = _forced_loss_run(tmp_path, monkeypatch, 0.0, "watchdog.zero_loss_steps=3")
    warnings = [e for e in log if isinstance(e, ev.RunWarning) and e.category == "zero_loss"]
    assert [w.step for w in warnings] == [3]


def test_bad_input_found_late_is_one_line_with_exit_code_2(demo_home, tmp_path):
    proc = run_cli(
        "run",
        "demo",
        "--set",
        'dataset.text_columns=["review"]',
        "--output-dir",
        str(tmp_path / "r"),
        "--plain",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "fttui: error: --set dataset.text_columns=[\"review\"]: [dataset] text_columns: column 'review' not found in split 'train'; "
        "its columns are: text, label"
    )
    assert "Traceback" not in proc.stdout + proc.stderr
    results = tomllib.loads((tmp_path / "r" / "results.toml").read_text())["results"]
    assert results["status"] == "failed" and "column 'review' not found" in results["error"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            'training.metric_for_best_model="nosuch"',
            "[training] metric_for_best_model: 'nosuch' is not a metric this run computes; "
            "expected one of loss, accuracy, f1",
        ),
        (
            "dataset.max_length=100000",
            "[dataset] max_length: 100000 is longer than this model takes (128 tokens, "
            "max_position_embeddings); set at most 128",
        ),
        ("model.checkpoint=/nonexistent/model", "[model] checkpoint: no such folder: /nonexistent/model"),
    ],
)
def test_values_only_the_data_or_model_can_refute_fail_before_training(
    demo_home, tmp_path, override, message
):
    outcome = runner.run(small_preset(override), run_dir=tmp_path / "r")
    assert outcome.bad_input and outcome.status == "failed"
    assert outcome.error == f"--set {override}: {message}"  # named by where the value came from
    assert not any(isinstance(e, ev.Progress) for e in events_of(tmp_path / "r"))


def test_unreachable_hub_fails_fast_with_a_clear_message(demo_home, tmp_path):
    # Nothing listens on port 9 here: the hub is "unreachable" without touching the network.
    env = {
        var: ""
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    started = time.monotonic()
    proc = run_cli("run", "glue-mrpc", "--output-dir", str(tmp_path / "r"), "--plain", env=env, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "fttui: error: glue-mrpc (built-in preset): [model] checkpoint: model 'bert-base-uncased': the Hugging Face hub "
        "(http://127.0.0.1:9) could not be reached and the checkpoint is not in the local cache; point [model] checkpoint "
        "at a local folder with config.json (e.g. --set model.checkpoint=/path/to/bert-base-uncased)"
    )
    print(f"unreachable hub reported after {took:.1f} s")

    proc = run_cli(
        "run",
        "glue-mrpc",
        "--set",
        f"model.checkpoint={demo_home / 'demo' / 'tiny-bert'}",
        "--output-dir",
        str(tmp_path / "r2"),
        "--plain",
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "fttui: error: glue-mrpc (built-in preset): dataset 'glue (mrpc)': the Hugging Face hub (http://127.0.0.1:9) "
        "could not be reached and it is not in the local cache; use local files instead: "
        '[dataset] files = { train = "train.csv", validation = "dev.csv" }'
    )


def test_out_of_memory_fails_with_advice(demo_home, tmp_path, monkeypatch):
    import torch
    from transformers import Trainer

    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "training_step", oom)
    preset = small_preset()
    outcome = runner.run(preset, run_dir=tmp_path / "run")
    assert outcome.status == "failed"
    assert outcome.error == (
        "out of GPU memory: halve per_device_train_batch_size (16 -> 8) and double gradient_accumulation_steps "
        "(1 -> 2); lower [dataset] max_length; use bf16 = true (or fp16 on older GPUs); set activation_checkpointing = true"
    )
    finished = load_history(tmp_path / "run").finished
    assert finished.error_type == "OutOfMemoryError"
    # what the app offers as a retry: same effective batch, half the memory per step
    assert cfg.oom_retry_overrides(preset) == [
        "training.per_device_train_batch_size=8",
        "training.gradient_accumulation_steps=2",
    ]


def _write_log(run_dir: Path, *events: ev.Event) -> None:
    run_dir.mkdir(parents=True)
    log = ev.EventLog(run_dir / ev.EVENTS_FILE)
    for event in events:
        log(event)
    log.close()


def _started(run_dir: Path, pid: int) -> ev.RunStarted:
    import socket

    return ev.RunStarted(
        run_id=run_dir.name,
        preset="demo",
        config={},
        provenance={},
        output_dir=str(run_dir),
        device="CPU",
        devices=[],
        pid=pid,
        host=socket.gethostname(),
    )


def test_resume_names_what_is_wrong_with_the_run_it_was_given(fttui_home):
    runs = fttui_home / "runs"
    dead = 2**22 + 12345  # above any pid this box hands out
    for name in ("20260101-120000-demo-aaaa", "20260101-130000-demo-bbbb"):
        _write_log(runs / name, _started(runs / name, dead))
    proc = run_cli("resume", "20260101")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "fttui: error: '20260101' matches 2 runs (20260101-130000-demo-bbbb, 20260101-120000-demo-aaaa); "
        "give more of the run id"
    )
    proc = run_cli("resume", "20260101-12")  # a crashed run, but its preset was never written
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "fttui: error: run 20260101-120000-demo-aaaa never started (no preset.toml); nothing to resume: "
        "fix the preset and start a new run",
    )
    rejected = runs / "rejected"
    proc = run_cli("run", "demo", "--set", "training.bf16=true", "--output-dir", str(rejected))
    assert proc.returncode == 2
    proc = run_cli("resume", str(rejected))
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "fttui: error: run rejected never started (--set training.bf16=true: [training] bf16:"
    )


def test_a_run_folder_in_use_is_not_trained_into_twice(fttui_home):
    from engine import paths

    run_dir = fttui_home / "runs" / "20260101-120000-demo-cccc"
    _write_log(run_dir, _started(run_dir, 2**22 + 12345))
    (run_dir / "preset.toml").write_text('extends = "demo"\n', encoding="utf-8")
    with paths.hold_run_folder(run_dir):
        with pytest.raises(paths.RunFolderBusy):
            paths.hold_run_folder(run_dir)  # a second claim, even from the same process
        proc = run_cli("resume", run_dir.name)
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"fttui: error: run {run_dir.name} is in use by another fttui process (pid {os.getpid()}); "
        f"wait for it, or stop it with: fttui stop {run_dir.name}",
    )
    assert len(events_of(run_dir)) == 1  # nothing appended while it was held
    with paths.hold_run_folder(run_dir):  # released on exit: free to claim again
        pass


def test_an_internal_error_before_the_engine_starts_still_leaves_an_explained_run(
    fttui_home, tmp_path, monkeypatch, capsys
):
    from engine import cli
    from engine.history import load_history

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_load_preset", broken)
    run_dir = tmp_path / "r"
    assert cli.main(["run", "demo", "--output-dir", str(run_dir)]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback" in err  # a bug in fttui: the traceback is what a report needs
    assert err.strip().splitlines()[-1] == (
        "fttui: error: internal error: RuntimeError: boom second line (a bug in fttui: the traceback above helps a report)"
    )
    history = load_history(run_dir)
    assert history.status() == "failed"
    assert history.finished.error == "internal error: RuntimeError: boom second line"
    assert "RuntimeError" in history.finished.traceback


def test_the_console_after_a_resume_shows_the_whole_run_as_results_toml_does(
    demo_home, tmp_path, monkeypatch
):
    import io
    import re

    from engine.console import ConsoleSink, fmt_duration, fmt_metric

    # SMALL: 6 steps an epoch; stop on step 8, so epoch 1 and part of epoch 2's losses are the first segment's.
    run_dir = _stopped_on_step(tmp_path, monkeypatch, 8)
    stream = io.StringIO()
    outcome = runner.run(small_preset(), run_dir=run_dir, resume=True, sink=ConsoleSink(stream, live=False))
    assert outcome.status == "completed", outcome.error
    out = stream.getvalue()
    results = tomllib.loads((run_dir / "results.toml").read_text())["results"]

    table = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    expected = [
        [
            f"{row['epoch']:.2f}",
            str(row["step"]),
            fmt_metric(row["train_loss"]),
            *(fmt_metric(row[k]) for k in ("eval_loss", "accuracy", "f1")),
        ]
        for row in results["epochs"]
    ]
    assert [cells[:6] for cells in table] == expected, out
    assert len(expected) == 2
    # Whole-run active time, as results.toml counts it (rounded to seconds; a second's edge may fall between).
    done = re.search(r"^completed in (\S+) \(this session (\S+)\)$", out, re.MULTILINE)
    assert done, out
    total = results["duration_seconds"]
    assert done[1] in (fmt_duration(total), fmt_duration(total + 1)), (done[0], total)
    assert "epoch 1.00 (step 6)" not in out  # the first segment's lines are not printed again
