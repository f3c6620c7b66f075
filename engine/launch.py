"""Start runs in processes of their own: detached from the app's terminal, or as several processes via torchrun.

A run started from the app is a separate ``python -m engine run`` process in a new
session, so closing the terminal (or the SSH connection) does not end it; its output
goes to ``run.log`` in the run folder and its events to ``events.jsonl`` as always.
Several processes go through PyTorch's own launcher (``torch.distributed.run``, i.e.
torchrun) and the Trainer's native DDP; this process then follows rank 0's event log.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine import paths
from engine.paths import RUN_LOG

LAUNCHER_LOG = "launcher.log"
RANK_ERROR = "rank-{rank}.error.json"


def engine_command(
    preset_ref: str, run_dir: Path, overrides: list[str] = (), edits: list[str] = ()
) -> list[str]:
    """The `python -m engine run ...` command line for a preset; what the app shows and launches."""
    cmd = [sys.executable, "-m", "engine", "run", str(preset_ref), "--output-dir", str(run_dir), "--plain"]
    for text in edits:
        cmd += ["--edit", text]
    for text in overrides:
        cmd += ["--set", text]
    return cmd


def start_detached(
    preset_ref: str,
    *,
    overrides: list[str] = (),
    edits: list[str] = (),
    run_dir: Path | None = None,
    preset_name: str | None = None,
    nproc_per_node: int = 1,
    resume: bool = False,
) -> tuple[Path, subprocess.Popen]:
    """Start a run that outlives the caller. Returns the run folder (known at once) and the process."""
    name = preset_name or Path(str(preset_ref)).stem
    run_dir = Path(run_dir) if run_dir else paths.runs_dir() / paths.new_run_id(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        cmd = [sys.executable, "-m", "engine", "resume", str(run_dir), "--plain"]
    else:
        cmd = engine_command(preset_ref, run_dir, list(overrides), list(edits))
    if nproc_per_node > 1:
        cmd += ["--nproc-per-node", str(nproc_per_node)]
    log = open(run_dir / RUN_LOG, "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # no SIGHUP when the terminal goes away
        env=env,
        cwd=os.getcwd(),
    )
    log.close()
    return run_dir, proc


# -- several processes -----------------------------------------------------------------------------


def torchrun_command(args: argparse.Namespace, worker_args: list[str], rdzv_id: str) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={args.nproc_per_node}"]
    cmd.append(f"--nnodes={args.nnodes}")
    if args.nnodes not in ("1", "1:1"):
        cmd.append(f"--node-rank={args.node_rank}")
        if args.rdzv_endpoint:
            cmd += [
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint={args.rdzv_endpoint}",
                f"--rdzv-id={args.rdzv_id or rdzv_id}",
            ]
    elif args.master_port:
        cmd.append(f"--master-port={args.master_port}")
    else:
        # Two single-node jobs on one box must not fight over the default port.
        cmd.append("--standalone")
    return [*cmd, "-m", "engine", *worker_args]


def run_distributed(args: argparse.Namespace, run_dir: Path | None = None, resume: bool = False) -> int:
    """Launch torchrun and follow rank 0's events; every rank's failure becomes the run's failure."""
    from engine import cli
    from engine.paths import PRESET_FILE

    if resume:
        assert run_dir is not None
        preset, code = cli._load_preset(str(run_dir / PRESET_FILE), [], [])
        worker_args = ["resume", str(run_dir), "--quiet"]
    else:
        preset, code = cli._load_preset(
            args.preset, args.overrides, args.edits, run_dir=None if args.check else args.output_dir
        )
        if preset is not None and args.check:
            return cli._check_only(preset)
        run_dir = args.output_dir or paths.runs_dir() / paths.new_run_id(preset.name if preset else "run")
        worker_args = ["run", args.preset, "--output-dir", str(run_dir), "--quiet"]
        worker_args += [x for text in args.edits for x in ("--edit", text)]
        worker_args += [x for text in args.overrides for x in ("--set", text)]
    if preset is None:
        return code
    run_dir = Path(run_dir)
    if args.node_rank != 0:
        # Another node's launcher: node 0 owns the folder, and may share it over a network filesystem.
        run_dir.mkdir(parents=True, exist_ok=True)
        return _launch(args, run_dir, preset, worker_args)
    try:
        # Held for the whole launch; the workers torchrun starts skip the claim (cli._is_worker).
        hold = paths.hold_run_folder(run_dir)
    except paths.RunFolderBusy as exc:
        cli.error(str(exc))
        return cli.EXIT_BAD_INPUT
    with hold:
        return _launch(args, run_dir, preset, worker_args)


def _launch(args: argparse.Namespace, run_dir: Path, preset, worker_args: list[str]) -> int:
    from engine import cli
    from engine.console import ConsoleSink
    from engine.events import EVENTS_FILE, RunFinished, follow, read_events_from

    for stale in run_dir.glob(RANK_ERROR.format(rank="*")) if args.node_rank == 0 else ():
        stale.unlink(missing_ok=True)
    # Every node must name the same rendezvous: derive it from what they share, not the clock.
    cmd = torchrun_command(args, worker_args, f"fttui-{preset.name}")
    main_node = args.node_rank == 0
    sink = (
        None
        if getattr(args, "quiet", False) or not main_node
        else ConsoleSink(live=False if args.plain else None)
    )
    if not main_node and not getattr(args, "quiet", False):
        print(f"node {args.node_rank}: workers started; node 0 shows the run and writes its log and results")
    # A resume continues the log: show the new segment only, with the earlier ones as its past
    # (the whole run's table and time at the end), and do not stop at their RunFinished.
    log_path = run_dir / EVENTS_FILE
    start_at = log_path.stat().st_size if log_path.exists() else 0
    if sink is not None and start_at and hasattr(sink, "continue_from"):
        from engine.history import load_history

        sink.continue_from(load_history(run_dir))

    log = open(run_dir / LAUNCHER_LOG, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()

    stop_follow = threading.Event()
    interrupts = 0

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            from engine.stopping import request_stop

            request_stop(run_dir)
            if sink:
                sink.print("[yellow]stopping all processes after the current step (checkpoint + results)[/]")
        elif signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def pump() -> None:
        for batch in follow(log_path, stop=stop_follow, offset=start_at):
            for event in batch:
                if sink:
                    sink(event)

    follower = threading.Thread(target=pump, daemon=True)
    if main_node:
        follower.start()
    try:
        rc = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not main_node:
        return cli.EXIT_OK if rc == 0 else cli.EXIT_FAILED
    follower.join(timeout=3.0)
    stop_follow.set()
    follower.join(timeout=1.0)

    from engine.history import RunHistory, load_history

    # torchrun can fail before rank 0 writes a line (bad options, a worker dying at import).
    history = load_history(run_dir) if log_path.exists() else RunHistory()
    # This launch's own ending, not that of a segment before it (a resume).
    ended = log_path.exists() and any(
        isinstance(event, RunFinished) for event in read_events_from(log_path, start_at)[0]
    )
    if not ended or (rc != 0 and history.finished.status == "completed"):
        # Rank 0 never got to write its ending (killed by torchrun after another rank failed).
        _finish_for_dead_ranks(run_dir, preset, history, rc, sink)
        history = load_history(run_dir)
    status = history.finished.status if history.finished else "failed"
    bad_input = bool(history.finished and history.finished.error_type == "bad input")
    # The console leaves bad input to this one `fttui: error:` line, as a single process does.
    if history.finished and history.finished.error and (sink is None or bad_input):
        cli.error(history.finished.error)
    return cli._status_code(status, bad_input)


def rank_errors(run_dir: Path) -> list[dict]:
    """Errors other processes left behind, lowest rank first."""
    out = []
    for path in sorted(Path(run_dir).glob(RANK_ERROR.format(rank="*"))):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda e: e.get("rank", 0))


def write_rank_error(run_dir: Path, rank: int, error: str, error_type: str, tb: str) -> None:
    path = Path(run_dir) / RANK_ERROR.format(rank=rank)
    payload = {
        "rank": rank,
        "host": os.uname().nodename,
        "error": error,
        "error_type": error_type,
        "traceback": tb,
        "time": time.time(),
    }
    path.write_text(json.dumps(payload), encoding="utf-8")


def root_cause(run_dir: Path) -> dict | None:
    """The first failure among the ranks: the one the others died of."""
    errors = rank_errors(run_dir)
    return min(errors, key=lambda e: e.get("time", 0)) if errors else None


def _finish_for_dead_ranks(run_dir: Path, preset, history, rc: int, sink) -> None:
    from engine.events import EventLog, RunFinished, RunStarted
    from engine.paths import RESULTS_FILE, last_checkpoint
    from engine.results import build_results, write_results

    cause = root_cause(run_dir)
    if cause:
        error = f"rank {cause['rank']} failed: {cause['error']}"
        error_type, tb = cause.get("error_type", ""), cause.get("traceback", "")
    else:
        error = f"torchrun exited with code {rc} before rank 0 finished; see {run_dir / LAUNCHER_LOG}"
        error_type, tb = "LaunchError", ""
    now = time.time()
    last = last_checkpoint(run_dir)
    data = build_results(
        preset=preset,
        history=history,
        status="failed",
        run_dir=run_dir,
        first_started=history.first_started_time or now,
        finished=now,
        active_seconds=history.finished_segments_seconds
        + (now - (history.started.time if history.started else now)),
        error=error,
        last_checkpoint=str(last or ""),
        best_checkpoint="",
        final_model="",
        train_summary={},
    )
    results_path = run_dir / RESULTS_FILE
    write_results(results_path, data)
    log = EventLog(run_dir / "events.jsonl")
    if history.started is None:
        # No worker got as far as its first event: start the log here so it reads as a run.
        started = RunStarted(
            run_id=run_dir.name,
            preset=preset.name,
            config=preset.to_dict(),
            provenance=dict(preset.provenance),
            output_dir=str(run_dir.resolve()),
            device="",
            devices=[],
            pid=os.getpid(),
            host=os.uname().nodename,
            command=["fttui", *sys.argv[1:]],
        )
        log(started)
        if sink:
            sink(started)
    event = RunFinished(
        status="failed",
        duration_seconds=now - (history.started.time if history.started else now),
        error=error,
        error_type=error_type,
        traceback=tb,
        results_path=str(results_path),
        last_checkpoint=str(last or ""),
    )
    log(event)
    log.close()
    if sink:
        sink(event)
