"""The event log: JSON-lines round trip of every event type, torn lines, followers, and the history fold."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import threading
import time

import pytest

from engine import events as ev
from engine.history import RunHistory

SAMPLES: list[ev.Event] = [
    ev.RunStarted(
        run_id="r1",
        preset="demo",
        config={"training": {"learning_rate": 0.001, "metric_for_best_model": "f1"}},
        provenance={"training.learning_rate": "demo (built-in preset)"},
        output_dir="/tmp/r1",
        device="CPU (2 cores)",
        devices=[],
        pid=123,
        host="box",
        world_size=2,
        versions={"torch": "2.13.0"},
        command=["fttui", "run", "demo"],
        trust_remote_code=True,
        resumed=False,
    ),
    ev.Stage(name="loading dataset", detail="local files"),
    ev.DatasetReady(
        train_examples=100,
        eval_examples=20,
        task="classification",
        labels=["negative", "positive"],
        text_columns=["text"],
        eval_source="split 'validation'",
        truncated_train=3,
        max_length=64,
    ),
    ev.ModelLoaded(
        checkpoint="demo:tiny-bert",
        resolved_path="/x/tiny-bert",
        architecture="BertForSequenceClassification",
        parameters=400_000,
        num_labels=2,
        new_weights=["classifier.weight", "classifier.bias"],
        metrics_source="fttui offline module",
    ),
    ev.TrainingPlan(
        total_steps=30,
        num_epochs=3.0,
        train_examples=100,
        global_batch_size=10,
        steps_per_epoch=10,
        precision="fp32",
    ),
    ev.Progress(
        step=5, total_steps=30, epoch=0.5, samples_per_second=12.5, eta_seconds=None, elapsed_seconds=4.0
    ),
    ev.StepLoss(step=10, epoch=1.0, loss=0.69, learning_rate=1e-3, grad_norm=2.5),
    ev.StepLoss(step=20, epoch=2.0, loss=math.nan, learning_rate=None, grad_norm=math.inf),
    ev.EpochMetrics(step=10, epoch=1.0, metrics={"loss": 0.6, "accuracy": 0.7, "f1": 0.65}),
    ev.GpuMemory(
        step=10,
        devices=[
            ev.DeviceMemory(
                index=0, name="H100", allocated=1, reserved=2, peak=3, total=4, used=None, host="box"
            )
        ],
    ),
    ev.RunWarning(category="nan_loss", message="training loss is nan at step 20", step=20),
    ev.CheckpointSaved(step=10, path="/tmp/r1/checkpoint-10"),
    ev.StopRequested(reason="stop file", step=21),
    ev.ValidationPredictions(
        labels=["negative", "positive"],
        confusion=[[8, 2], [1, 9]],
        most_confident_wrong=[
            ev.WrongExample(text="not bad at all", label="positive", predicted="negative", confidence=0.97)
        ],
        metrics={"accuracy": 0.85},
    ),
    ev.Heartbeat(pid=123, step=21),
    ev.RunFinished(
        status="stopped",
        duration_seconds=12.0,
        results_path="/tmp/r1/results.toml",
        last_checkpoint="/tmp/r1/checkpoint-21",
    ),
]


def _same(a, b) -> bool:
    """Equality that treats NaN as equal to NaN (the point of the round trip)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_every_event_type_has_a_sample():
    assert {type(e) for e in SAMPLES} == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.kind)
def test_round_trip(event):
    line = ev.to_json(event)
    assert "\n" not in line
    body = json.loads(line)  # strict JSON: NaN/inf are spelled as strings, not bare NaN
    assert body["event"] == event.kind
    assert body["schema"] == ev.SCHEMA_VERSION
    assert _same(ev.from_json(line), event)


def test_nonfinite_values_are_valid_json_and_come_back():
    line = ev.to_json(ev.StepLoss(step=1, epoch=0.1, loss=math.nan, grad_norm=-math.inf))
    assert '"loss":"nan"' in line and '"grad_norm":"-inf"' in line
    back = ev.from_json(line)
    assert math.isnan(back.loss) and back.grad_norm == -math.inf


def test_log_file_round_trip_and_torn_last_line(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    log = ev.EventLog(path)
    for event in SAMPLES:
        log(event)
    log.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"event":"progress","schema":1,"step":9')  # a crash mid-write
    back = ev.read_events(path)
    assert len(back) == len(SAMPLES)
    assert all(_same(a, b) for a, b in zip(back, SAMPLES, strict=True))


def test_unknown_events_and_garbage_lines_are_skipped_not_fatal(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    path.write_text(
        '{"event":"from_the_future","schema":9,"time":1.0,"x":1}\nnot json\n'
        + ev.to_json(ev.Stage(name="x"))
        + "\n",
        encoding="utf-8",
    )
    back = ev.read_events(path)
    assert isinstance(back[0], ev.UnknownEvent) and back[0].name == "from_the_future"
    assert isinstance(back[1], ev.Stage)


def test_reading_in_pieces_never_splits_an_event(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    line = ev.to_json(ev.Stage(name="loading model")) + "\n"
    path.write_text(line[:10], encoding="utf-8")
    events, offset = ev.read_events_from(path, 0)
    assert events == [] and offset == 0
    path.write_text(line + line[:5], encoding="utf-8")
    events, offset = ev.read_events_from(path, 0)
    assert [e.name for e in events] == ["loading model"] and offset == len(line.encode())


def test_follow_yields_batches_until_the_run_finishes(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    log = ev.EventLog(path)
    seen: list[ev.Event] = []

    def writer():
        for i in range(5):
            log(
                ev.Progress(
                    step=i, total_steps=5, epoch=0, samples_per_second=1, eta_seconds=1, elapsed_seconds=i
                )
            )
            time.sleep(0.02)
        log(ev.RunFinished(status="completed", duration_seconds=1))

    thread = threading.Thread(target=writer)
    thread.start()
    for batch in ev.follow(path, poll=0.01):
        seen.extend(batch)
    thread.join()
    assert [type(e).__name__ for e in seen] == ["Progress"] * 5 + ["RunFinished"]


def test_concurrent_writers_do_not_interleave_lines(tmp_path):
    path = tmp_path / ev.EVENTS_FILE
    log = ev.EventLog(path)

    def write(n):
        for i in range(300):
            log(ev.Heartbeat(pid=n, step=i))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    back = ev.read_events(path)
    assert len(back) == 1200
    assert {e.pid for e in back} == {0, 1, 2, 3}


# -- history ------------------------------------------------------------------------------------


def test_history_rebuilds_a_run():
    h = RunHistory().extend(SAMPLES)
    assert h.run_id == "r1"
    assert h.status() == "stopped"
    assert h.step == 5 and h.total_steps == 30
    assert len(h.losses) == 2 and len(h.evaluations) == 1
    assert h.headline_metric == "f1"  # the preset's metric_for_best_model
    assert h.best_evaluation().metrics["f1"] == 0.65
    assert h.predictions.confusion == [[8, 2], [1, 9]]
    assert h.warnings[0].category == "nan_loss"
    assert h.peak_memory()["box:0"].peak == 3
    summary = h.loss_summary()
    assert summary["first"] == summary["last"] == 0.69  # the NaN point is not a summary value


def test_best_row_respects_metric_direction():
    base = [
        ev.EpochMetrics(step=i, epoch=float(i), metrics={"loss": loss, "accuracy": acc})
        for i, loss, acc in ((1, 0.5, 0.7), (2, 0.4, 0.6), (3, 0.45, 0.8))
    ]
    h = RunHistory().extend(base)
    assert h.headline_metric == "accuracy"
    assert h.best_evaluation().step == 3
    assert h.best_evaluation("loss").step == 2  # lower is better for loss


def _started(pid: int, host: str | None = None) -> ev.RunStarted:
    return ev.RunStarted(
        run_id="r",
        preset="p",
        config={},
        provenance={},
        output_dir="/x",
        device="cpu",
        devices=[],
        pid=pid,
        host=host or socket.gethostname(),
    )


def test_live_process_is_running_and_dead_one_is_crashed():
    alive = RunHistory().extend([_started(os.getpid())])
    assert alive.status() == "running"
    dead = RunHistory().extend([_started(2**22 + 12345)])  # above pid_max: no such process
    assert dead.status() == "crashed"


def test_other_host_relies_on_the_heartbeat():
    now = time.time()
    h = RunHistory().extend([_started(1, host="elsewhere")])
    assert h.status(now=h.last_heartbeat + 10) == "running"
    assert h.status(now=now + 3600) == "crashed"


def test_resumed_run_clears_the_old_ending():
    h = RunHistory().extend([_started(os.getpid()), ev.RunFinished(status="stopped", duration_seconds=5.0)])
    assert h.status() == "stopped"
    resumed = dataclasses.replace(_started(os.getpid()), resumed=True)
    h.apply(resumed)
    assert h.status() == "running" and h.segments == 2
    h.apply(ev.RunFinished(status="completed", duration_seconds=7.0))
    assert h.status() == "completed" and h.finished_segments_seconds == 12.0


def test_runs_command_lists_status_progress_and_metric_with_whole_run_ids(tmp_path, monkeypatch, capsys):
    from engine import cli

    monkeypatch.setenv("FTTUI_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")  # the SSH terminal the app is made for
    runs = tmp_path / "runs"
    for run_id, pid in (
        ("20261125-071413-local-csv-a0c6", 2**22 + 12345),
        ("20261125-071532-local-csv-c345", os.getpid()),
    ):
        log = ev.EventLog(runs / run_id / ev.EVENTS_FILE)
        log(dataclasses.replace(_started(pid), run_id=run_id, preset="demo"))
        log(
            ev.Progress(
                step=5, total_steps=10, epoch=1.0, samples_per_second=9.0, eta_seconds=3, elapsed_seconds=4
            )
        )
        log(ev.EpochMetrics(step=5, epoch=1.0, metrics={"loss": 0.5, "accuracy": 0.8125}))
        log.close()
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("2026")}
    # The id is what attach/resume/stop take: it must come out whole, even at 80 columns.
    assert set(lines) == {"20261125-071413-local-csv-a0c6", "20261125-071532-local-csv-c345"}
    assert "crashed" in lines["20261125-071413-local-csv-a0c6"]  # its process is gone, no finished event
    assert "running" in lines["20261125-071532-local-csv-c345"]
    assert all("5/10" in line and "accuracy 0.8125" in line for line in lines.values())  # whole, one line


def test_stop_command_writes_the_stop_file_without_loading_transformers(tmp_path):
    import subprocess
    import sys

    from engine.stopping import STOP_FILE

    run_dir = tmp_path / "runs" / "20261125-071757-demo-f47c"
    log = ev.EventLog(run_dir / ev.EVENTS_FILE)
    log(dataclasses.replace(_started(os.getpid()), run_id=run_dir.name))  # alive: this process
    log.close()
    probe = (
        "import sys; from engine import cli; rc = cli.main(['stop', sys.argv[1]]); "
        "print(rc, sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, run_dir.name],
        capture_output=True,
        text=True,
        env=dict(os.environ, FTTUI_HOME=str(tmp_path)),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 []"  # answered at once, as a shell command should be
    assert (run_dir / STOP_FILE).exists()


def test_a_resumed_run_is_listed_by_when_it_first_started():
    first = dataclasses.replace(_started(2**22 + 12345), time=1000.0)
    stopped = ev.RunFinished(status="stopped", duration_seconds=10.0)
    again = dataclasses.replace(_started(2**22 + 12346), time=5000.0, resumed=True)
    row = RunHistory().extend([first, stopped, again]).summary_row()
    assert row["started"] == 1000.0
