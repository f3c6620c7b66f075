"""Several processes through torchrun (gloo on CPU): same figures as one process, one writer, rank failures surface."""

from __future__ import annotations

import textwrap

import pytest

from engine import events as ev
from engine.config import tomllib
from engine.history import load_history
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

# A learning rate of ~0 keeps the model fixed, so the epoch's mean training loss depends only
# on the data: one process and two processes must log the same number.
FROZEN = [
    "dataset.max_train_samples=512",
    "training.num_train_epochs=1",
    "training.learning_rate=1e-12",
    "training.logging_steps=16",
    "training.eval_strategy=no",
    "training.save_strategy=no",
]


def _sets(*items: str) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def test_two_processes_match_one_process(demo_home, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    proc = run_cli(
        "run",
        "demo",
        "--plain",
        "--output-dir",
        str(one),
        *_sets(*FROZEN, "training.per_device_train_batch_size=32"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli(
        "run",
        "demo",
        "--plain",
        "--nproc-per-node",
        "2",
        "--output-dir",
        str(two),
        *_sets(*FROZEN, "training.per_device_train_batch_size=16"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    log_one, log_two = ev.read_events(one / ev.EVENTS_FILE), ev.read_events(two / ev.EVENTS_FILE)
    starts = [e for e in log_two if isinstance(e, ev.RunStarted)]
    assert len(starts) == 1 and starts[0].world_size == 2  # rank 0 alone writes the log
    plan_one = next(e for e in log_one if isinstance(e, ev.TrainingPlan))
    plan_two = next(e for e in log_two if isinstance(e, ev.TrainingPlan))
    # DDP really ran: 2 x 16 per step covers the data in as many steps as 1 x 32
    assert (
        (plan_two.global_batch_size, plan_two.total_steps)
        == (plan_one.global_batch_size, plan_one.total_steps)
        == (32, 16)
    )

    loss_one = next(e for e in log_one if isinstance(e, ev.StepLoss)).loss
    loss_two = next(e for e in log_two if isinstance(e, ev.StepLoss)).loss
    # Same scale: transformers alone logs (and trains with) 2x the loss here; see runner.py.
    assert loss_two == pytest.approx(loss_one, rel=0.02), (loss_one, loss_two)

    # Throughput is global: the Trainer's figure and fttui's progress agree with
    # samples / runtime over all processes, not one process's share.
    results = tomllib.loads((two / "results.toml").read_text())["results"]
    runtime = results["throughput"]["train_runtime"]
    reported = results["throughput"]["train_samples_per_second"]
    assert reported == pytest.approx(512 / runtime, rel=0.05)
    progress = [e for e in log_two if isinstance(e, ev.Progress)][-1]
    assert 0.6 < progress.samples_per_second / reported < 1.6  # a per-process figure would be ~0.5
    assert results["environment"]["world_size"] == 2
    # memory is gathered from every process at log steps (no GPU here: an explicit empty list)
    memory = [e for e in log_two if isinstance(e, ev.GpuMemory)]
    assert memory and all(m.devices == [] for m in memory)


def test_a_failing_rank_fails_the_run_with_its_own_error(demo_home, tmp_path):
    # Injected from outside the product: sitecustomize runs in every torchrun worker.
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os
            if os.environ.get("RANK") == "1":
                import transformers

                original = transformers.Trainer.training_step

                def failing(self, *args, **kwargs):
                    if self.state.global_step >= 2:
                        raise RuntimeError("injected failure on rank 1")
                    return original(self, *args, **kwargs)

                transformers.Trainer.training_step = failing
            """
        )
    )
    import os

    run_dir = tmp_path / "run"
    env = {"PYTHONPATH": os.pathsep.join([str(inject), os.environ.get("PYTHONPATH", "")])}
    proc = run_cli(
        "run",
        "demo",
        "--plain",
        "--nproc-per-node",
        "2",
        "--output-dir",
        str(run_dir),
        *_sets(
            "dataset.max_train_samples=256",
            "training.num_train_epochs=1",
            "training.per_device_train_batch_size=16",
        ),
        env=env,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    history = load_history(run_dir)
    assert history.status() == "failed"
    assert history.finished.error == "rank 1 failed: RuntimeError: injected failure on rank 1"
    assert "injected failure" in history.finished.traceback
    results = tomllib.loads((run_dir / "results.toml").read_text())["results"]
    assert results["status"] == "failed" and results["error"] == history.finished.error


def test_two_nodes_meet_at_a_rendezvous_endpoint(demo_home, tmp_path):
    """Multi-node is the same command on each node; here two "nodes" share this machine."""
    import socket
    import subprocess
    import sys

    from tests.conftest import REPO

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "run"
    common = [
        "--plain",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--output-dir",
        str(run_dir),
        *_sets("dataset.max_train_samples=256", "training.num_train_epochs=1"),
    ]
    node1 = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "demo", *common, "--node-rank", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc = run_cli("run", "demo", *common, "--node-rank", "0", timeout=240)
    out1, _ = node1.communicate(timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert node1.returncode == 0, out1
    assert "node 1: workers started" in out1
    log = ev.read_events(run_dir / ev.EVENTS_FILE)
    assert [e.world_size for e in log if isinstance(e, ev.RunStarted)] == [2]
    plan = next(e for e in log if isinstance(e, ev.TrainingPlan))
    assert (plan.global_batch_size, plan.total_steps) == (64, 4)
    assert load_history(run_dir).status() == "completed"


def test_a_two_process_run_stopped_and_resumed_reads_as_one_run(demo_home, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    run_dir = tmp_path / "run"
    small = _sets(
        "dataset.max_train_samples=256",
        "dataset.max_eval_samples=64",
        "training.num_train_epochs=3",
        "training.per_device_train_batch_size=16",
        "training.logging_steps=2",
    )
    first = subprocess.Popen(
        [
            *(sys.executable, "-m", "engine", "run", "demo", "--plain", "--nproc-per-node", "2"),
            *("--output-dir", str(run_dir), *small),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    deadline = time.monotonic() + 180
    while not ((run_dir / ev.EVENTS_FILE).exists() and load_history(run_dir).step >= 3):
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    out, _ = first.communicate(timeout=180)
    assert first.returncode == 3, out  # stopped
    stopped_at = load_history(run_dir).step

    proc = run_cli("resume", str(run_dir), "--plain", "--nproc-per-node", "2", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    history = load_history(run_dir)
    assert history.status() == "completed" and history.segments == 2
    assert history.plan.start_step == stopped_at and history.plan.total_steps == 24
    results = tomllib.loads((run_dir / "results.toml").read_text())["results"]
    assert [round(row["epoch"]) for row in results["epochs"]] == [1, 2, 3]
    # The console followed the new segment only, and its table covers the whole run.
    assert proc.stdout.count("plan:") == 1, proc.stdout  # the first segment is not printed again
    table = proc.stdout[proc.stdout.index("Validation metrics per epoch") :]
    assert all(f"{epoch}.00 │" in table for epoch in (1, 2, 3))
