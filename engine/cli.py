"""Command line: `fttui run/resume/presets/runs/stop`; `fttui` and `fttui attach` open the app (passed in by tui.cli).

Imports stay light at module level so that `fttui --help` answers at once; torch and
transformers load only when a command needs them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 3

EPILOG = """\
precedence of settings, lowest to highest: fttui defaults < preset (parent, then child) <
screen edits < --set.  Exit codes: 0 completed, 1 failed, 2 bad input, 3 stopped.
Runs live in $FTTUI_HOME/runs (default ~/.local/share/fttui/runs)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fttui",
        description="Fine-tune transformer classifiers from a terminal. With no command, opens the app.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="fttui 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="train a preset without the app (headless)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "preset",
        metavar="PRESET_OR_FILE",
        help="built-in/user preset name, a preset .toml, or a results.toml",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="TABLE.KEY=VALUE",
        help="override a preset value, e.g. --set training.learning_rate=3e-5 (repeatable)",
    )
    run.add_argument("--edit", dest="edits", action="append", default=[], help=argparse.SUPPRESS)
    run.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="run folder (default: a new folder under the runs directory)",
    )
    run.add_argument("--check", action="store_true", help="validate the preset and exit without training")
    run.add_argument("--plain", action="store_true", help="line-oriented progress even on a terminal")
    run.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (the event log is still written)"
    )
    _add_launch_options(run)

    resume = sub.add_parser("resume", help="continue a stopped or crashed run from its last checkpoint")
    resume.add_argument("run", metavar="RUN", help="run id, run folder, or 'last'")
    resume.add_argument("--plain", action="store_true", help="line-oriented progress even on a terminal")
    resume.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    _add_launch_options(resume)

    sub.add_parser("presets", help="list built-in and user presets")
    runs = sub.add_parser("runs", help="list runs with status, progress and headline metric")
    runs.add_argument("--limit", type=int, default=20, help="how many recent runs to show (default 20)")
    attach = sub.add_parser("attach", help="open the app's live view of a run (default: the latest)")
    attach.add_argument("run", nargs="?", default="last", metavar="RUN", help="run id, run folder, or 'last'")
    stop = sub.add_parser("stop", help="ask a live run to stop gracefully (checkpoint + results)")
    stop.add_argument("run", metavar="RUN", help="run id, run folder, or 'last'")
    return parser


def _add_launch_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("several processes (passed to torchrun)")
    group.add_argument(
        "--nproc-per-node", type=int, default=1, metavar="N", help="processes on this node (GPUs)"
    )
    group.add_argument("--nnodes", default="1", metavar="N", help="number of nodes (or MIN:MAX)")
    group.add_argument("--node-rank", type=int, default=0, metavar="R", help="this node's rank")
    group.add_argument(
        "--rdzv-endpoint", default="", metavar="HOST:PORT", help="rendezvous endpoint for several nodes"
    )
    group.add_argument("--rdzv-id", default="", metavar="ID", help="rendezvous id (default: the run id)")
    group.add_argument(
        "--master-port", type=int, default=0, metavar="PORT", help="port for a single-node job"
    )


def error(message: str) -> None:
    print(f"fttui: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None, open_app: Callable[..., int] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "attach"):
        if open_app is None:
            error("the app is started by the `fttui` command, not `python -m engine`")
            return EXIT_BAD_INPUT
        return open_app(attach=getattr(args, "run", None))
    if args.command in ("run", "resume"):
        # OpenMP threads spin while they wait; on a shared box (another job on a core) a
        # 2-thread CPU step then ran 30-50x slower than with yielding waits. Must be set
        # before torch loads its OpenMP runtime; the user's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    handler = {
        "run": cmd_run,
        "resume": cmd_resume,
        "presets": cmd_presets,
        "runs": cmd_runs,
        "stop": cmd_stop,
    }
    try:
        return handler[args.command](args)
    except KeyboardInterrupt:
        return EXIT_STOPPED


# -- run / resume ----------------------------------------------------------------------------------


class _Signals:
    """First Ctrl+C or SIGTERM: stop gracefully after the current step. Second Ctrl+C: abort."""

    def __init__(self, stop_event: threading.Event, say: Callable[[str], None]):
        self.stop_event = stop_event
        self.say = say
        self.count = 0

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in getattr(self, "previous", {}).items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if signum == signal.SIGINT and self.count > 1:
            raise KeyboardInterrupt
        self.stop_event.set()
        if self.count == 1:
            name = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
            self.say(f"{name}: stopping after the current step (checkpoint + results); Ctrl+C again to abort")


def _status_code(status: str, bad_input: bool) -> int:
    if bad_input:
        return EXIT_BAD_INPUT
    return {"completed": EXIT_OK, "stopped": EXIT_STOPPED}.get(status, EXIT_FAILED)


def _load_preset(ref: str, overrides: list[str], edits: list[str], run_dir: Path | None = None):
    """Resolve and fully validate a preset; (preset, None) or (None, exit code) after printing the error.

    With a run folder given (the app always gives one), a rejected preset still leaves a log
    there, so `fttui runs`, attach and the app can say why the run never started.
    """
    from engine import config as cfg
    from engine import hub

    try:
        preset = cfg.resolve(ref, overrides, edits, check_training=False)
        # Offline mode must be chosen before transformers is imported (validation imports it).
        hub.prepare()
        cfg.validate_training(preset)
        from engine import gpu

        preset.warnings.extend(
            cfg.check_device(preset, cuda_available=gpu.cuda_available(), bf16_supported=gpu.bf16_supported())
        )
    except cfg.PresetError as exc:
        error(str(exc))
        if run_dir is not None:
            _record_rejection(Path(run_dir), ref, str(exc))
        return None, EXIT_BAD_INPUT
    return preset, None


def _record_rejection(run_dir: Path, ref: str, message: str) -> None:
    import socket

    from engine.events import EventLog, RunFinished, RunStarted

    run_dir.mkdir(parents=True, exist_ok=True)
    log = EventLog(run_dir / "events.jsonl")
    log(
        RunStarted(
            run_id=run_dir.name,
            preset=Path(ref).stem,
            config={},
            provenance={},
            output_dir=str(run_dir.resolve()),
            device="",
            devices=[],
            pid=os.getpid(),
            host=socket.gethostname(),
            command=["fttui", *sys.argv[1:]],
        )
    )
    log(RunFinished(status="failed", duration_seconds=0.0, error=message, error_type="bad input"))
    log.close()


def cmd_run(args: argparse.Namespace) -> int:
    if args.nproc_per_node > 1 or args.nnodes not in ("1", "1:1"):
        from engine import launch

        return launch.run_distributed(args)
    preset, code = _load_preset(
        args.preset, args.overrides, args.edits, run_dir=None if args.check else args.output_dir
    )
    if preset is None:
        return code
    for message in preset.warnings:
        print(f"fttui: warning: {message}", file=sys.stderr)
    if args.check:
        print(f"{preset.source}: ok ({preset.name}: {preset.description})")
        return EXIT_OK
    return _execute(preset, args, run_dir=args.output_dir, resume=False)


def _execute(preset, args: argparse.Namespace, run_dir: Path | None, resume: bool) -> int:
    from engine import runner
    from engine.console import ConsoleSink

    sink = None if args.quiet else ConsoleSink(live=False if args.plain else None)
    say = (lambda text: sink.print(f"[yellow]{text}[/]")) if sink else (lambda text: None)
    stop_event = threading.Event()
    with _Signals(stop_event, say):
        outcome = runner.run(
            preset,
            run_dir=run_dir,
            sink=sink,
            stop_event=stop_event,
            resume=resume,
            command=["fttui", *sys.argv[1:]],
        )
    if outcome.error and (sink is None or outcome.bad_input):
        error(outcome.error)
    return _status_code(outcome.status, outcome.bad_input)


def find_run(ref: str) -> Path | None:
    """A run folder from an id, a path, or 'last' (the most recently started run)."""
    from engine import paths

    if ref in ("last", "latest"):
        runs = list_run_dirs()
        return runs[0] if runs else None
    candidate = Path(ref).expanduser()
    if candidate.is_dir() and (candidate / "events.jsonl").exists():
        return candidate
    folder = paths.runs_dir() / ref
    if folder.is_dir():
        return folder
    matches = [p for p in list_run_dirs() if p.name.startswith(ref)]
    return matches[0] if len(matches) == 1 else None


def list_run_dirs() -> list[Path]:
    """Run folders, newest first (folders named by start time sort by it; links count too)."""
    from engine import paths

    root = paths.runs_dir()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if (p / "events.jsonl").exists()]
    return sorted(runs, key=lambda p: ((p / "events.jsonl").stat().st_ctime, p.name), reverse=True)


def cmd_resume(args: argparse.Namespace) -> int:
    from engine.history import load_history
    from engine.paths import PRESET_FILE

    run_dir = find_run(args.run)
    if run_dir is None:
        error(f"no run '{args.run}' (see `fttui runs`)")
        return EXIT_BAD_INPUT
    history = load_history(run_dir)
    status = history.status()
    if status == "running":
        error(
            f"run {run_dir.name} is still running (pid {history.started.pid}); stop it first: fttui stop {run_dir.name}"
        )
        return EXIT_BAD_INPUT
    if status == "completed":
        error(f"run {run_dir.name} already completed; to train again: fttui run {run_dir / 'results.toml'}")
        return EXIT_BAD_INPUT
    if args.nproc_per_node > 1 or args.nnodes not in ("1", "1:1"):
        from engine import launch

        return launch.run_distributed(args, run_dir=run_dir, resume=True)
    preset, code = _load_preset(str(run_dir / PRESET_FILE), [], [])
    if preset is None:
        return code
    preset.name = history.started.preset if history.started else preset.name
    return _execute(preset, args, run_dir=run_dir, resume=True)


# -- listing -----------------------------------------------------------------------------------------


def cmd_presets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from engine import config as cfg
    from engine import paths

    table = Table(title="fttui presets", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("where")
    table.add_column("description")
    user = cfg.user_presets()
    for name, path in cfg.builtin_presets().items():
        if name not in user:
            table.add_row(name, "built-in", cfg.describe(path))
    for name, path in user.items():
        table.add_row(name, "user", cfg.describe(path))
    Console().print(table)
    print(f"user presets folder: {paths.user_presets_dir()}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from engine import paths
    from engine.console import fmt_metric
    from engine.history import load_history

    runs = list_run_dirs()[: max(1, args.limit)]
    if not runs:
        print(f"no runs yet in {paths.runs_dir()}; start one with: fttui run demo")
        return EXIT_OK
    from rich import box

    table = Table(
        title=f"fttui runs ({paths.runs_dir()})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    # The run id is what `attach`, `resume` and `stop` take: it is never cut, other columns wrap.
    table.add_column("run", no_wrap=True, min_width=max(len(r.name) for r in runs))
    table.add_column("preset")
    table.add_column("status", no_wrap=True)
    table.add_column("progress", no_wrap=True)
    table.add_column("best metric")
    table.add_column("started")
    for run_dir in runs:
        row = load_history(run_dir).summary_row()
        progress = f"{row['step']}/{row['total_steps']}" if row["total_steps"] else "--"
        metric = f"{row['metric']} {fmt_metric(row['value'])}" if row["value"] is not None else "--"
        started = time.strftime("%m-%d %H:%M", time.localtime(row["started"])) if row["started"] else "--"
        table.add_row(run_dir.name, row["preset"], row["status"], progress, metric, started)
    Console().print(table)
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    from engine.history import load_history
    from engine.stopping import request_stop

    run_dir = find_run(args.run)
    if run_dir is None:
        error(f"no run '{args.run}' (see `fttui runs`)")
        return EXIT_BAD_INPUT
    status = load_history(run_dir).status()
    if status != "running":
        error(f"run {run_dir.name} is not running (status: {status})")
        return EXIT_BAD_INPUT
    request_stop(run_dir)
    print(f"asked {run_dir.name} to stop: it saves a checkpoint after the current step and writes results")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
