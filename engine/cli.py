"""Command line: `fttui run/resume/presets/runs/stop`; `fttui` and `fttui attach` open the app (passed in by tui.cli).

Imports stay light at module level so that `fttui --help` answers at once; torch and
transformers load only when a command needs them.
"""

from __future__ import annotations

import argparse
import contextlib
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
        help="run folder (default: a new folder under the runs directory); not one that holds a run",
    )
    run.add_argument(
        "--check",
        action="store_true",
        help="validate the preset, load its data and tokenizer, and exit without training",
    )
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
    group.add_argument(
        "--rdzv-id",
        default="",
        metavar="ID",
        help="rendezvous id, the same on every node (default: fttui-<preset name>)",
    )
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
    except Exception as exc:
        return _internal_error(args, exc)


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    """A bug in fttui, not bad input: one line saying so, the traceback for a report, and a run
    folder (the app's, or --output-dir) that says why it never started instead of staying empty."""
    import traceback

    from engine.events import EVENTS_FILE

    message = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    tb = traceback.format_exc()
    print(tb, file=sys.stderr, end="")
    error(f"{message} (a bug in fttui: the traceback above helps a report)")
    run_dir = getattr(args, "output_dir", None)
    if args.command == "run" and run_dir is not None and not (Path(run_dir) / EVENTS_FILE).exists():
        record_unstarted_run(Path(run_dir), args.preset, message, error_type=type(exc).__name__, tb=tb)
    return EXIT_FAILED


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
            record_unstarted_run(Path(run_dir), ref, str(exc))
        return None, EXIT_BAD_INPUT
    return preset, None


def record_unstarted_run(
    run_dir: Path, ref: str, message: str, error_type: str = "bad input", tb: str = ""
) -> None:
    """A run that ended before its engine started: a log of two events, so it is listed and explained."""
    import socket

    from engine.events import EventLog, RunFinished, RunStarted

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        log = EventLog(run_dir / "events.jsonl")
    except OSError:
        return  # the error is on the terminal already; a folder we cannot write keeps no log
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
    log(
        RunFinished(status="failed", duration_seconds=0.0, error=message, error_type=error_type, traceback=tb)
    )
    log.close()


def _check_launch(args: argparse.Namespace) -> str | None:
    """What is wrong with the process/node options, before torchrun is asked to make sense of them."""
    if args.nproc_per_node < 1:
        return f"--nproc-per-node {args.nproc_per_node}: expected a whole number of processes, 1 or more"
    parts = str(args.nnodes).split(":")
    if len(parts) > 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        return f"--nnodes {args.nnodes}: expected a number of nodes, 1 or more, or MIN:MAX (e.g. 2 or 1:4)"
    lowest, highest = int(parts[0]), int(parts[-1])
    if lowest > highest:
        return f"--nnodes {args.nnodes}: MIN is larger than MAX"
    if not 0 <= args.node_rank < highest:
        return f"--node-rank {args.node_rank}: expected 0 to {highest - 1} for --nnodes {args.nnodes}"
    if not 0 <= args.master_port <= 65535:
        return f"--master-port {args.master_port}: expected a port number, 1 to 65535"
    if highest > 1 and not args.rdzv_endpoint:
        return f"--nnodes {args.nnodes}: several nodes need --rdzv-endpoint HOST:PORT (node 0's address)"
    if args.rdzv_endpoint:
        host, _, port = args.rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) <= 65535:
            return f"--rdzv-endpoint {args.rdzv_endpoint}: expected HOST:PORT, e.g. node0.cluster:29400"
    return None


def _check_output_dir(run_dir: Path) -> str | None:
    """Why ``run_dir`` cannot take a new run: a file there, a run already in it, or no way to create it.

    A run folder is never trained into twice: its log, results and model would be mixed or
    overwritten. Continuing one is `fttui resume`.
    """
    from engine.events import EVENTS_FILE
    from engine.paths import RESULTS_FILE

    if run_dir.exists() and not run_dir.is_dir():
        return f"--output-dir {run_dir}: is a file, expected a folder for the run"
    if (run_dir / EVENTS_FILE).exists():
        return (
            f"--output-dir {run_dir}: already holds a run ({EVENTS_FILE}); choose a new folder, "
            f"or continue that run with: fttui resume {run_dir}"
        )
    if (run_dir / RESULTS_FILE).exists():
        return f"--output-dir {run_dir}: already holds a {RESULTS_FILE} this run would replace; choose a new folder"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--output-dir {run_dir}: cannot create the folder ({exc.strerror or exc})"
    if not os.access(run_dir, os.W_OK | os.X_OK):
        return f"--output-dir {run_dir}: the folder is not writable"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    problem = _check_launch(args)
    # Other nodes may share node 0's run folder (a shared filesystem); node 0 alone owns it.
    if problem is None and args.output_dir is not None and not _is_worker() and args.node_rank == 0:
        problem = _check_output_dir(args.output_dir)
    if problem:
        error(problem)
        return EXIT_BAD_INPUT
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
        return _check_only(preset)
    return _execute(preset, args, run_dir=args.output_dir, resume=False)


def _check_only(preset) -> int:
    """`--check`: the preset, then its data and tokenizer, loaded as a run would; no training."""
    from engine import config as cfg
    from engine import runner

    try:
        summary = runner.preflight(preset)
    except cfg.PresetError as exc:
        error(str(exc))
        return EXIT_BAD_INPUT
    print(f"{preset.source}: ok ({preset.name}: {preset.description})")
    print(f"  {summary}")
    return EXIT_OK


def _execute(preset, args: argparse.Namespace, run_dir: Path | None, resume: bool) -> int:
    from engine import runner
    from engine.console import ConsoleSink

    sink = None if args.quiet else ConsoleSink(live=False if args.plain else None)
    say = (lambda text: sink.print(f"[yellow]{text}[/]")) if sink else (lambda text: None)
    stop_event = threading.Event()
    hold = None
    if run_dir is not None and not _is_worker():
        from engine.paths import RunFolderBusy, hold_run_folder

        try:
            hold = hold_run_folder(Path(run_dir))
        except RunFolderBusy as exc:
            error(str(exc))
            return EXIT_BAD_INPUT
    with hold or contextlib.nullcontext(), _Signals(stop_event, say):
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


class RunNotFound(LookupError):
    """A RUN argument that names no run folder, or several; ``str()`` says which and why."""


def _is_worker() -> bool:
    """True in a process torchrun started: its launcher owns the run folder and checked it."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def find_run(ref: str) -> Path | None:
    """A run folder from an id, a unique id prefix, a path, or 'last'; None when there is none."""
    try:
        return locate_run(ref)
    except RunNotFound:
        return None


def locate_run(ref: str) -> Path:
    """Like :func:`find_run`, but raises :class:`RunNotFound` with the one-line reason."""
    from engine import paths

    if ref in ("last", "latest"):
        runs = list_run_dirs()
        if not runs:
            raise RunNotFound(f"no runs yet in {paths.runs_dir()}")
        return runs[0]
    candidate = Path(ref).expanduser()
    if candidate.is_dir() and (candidate / "events.jsonl").exists():
        return candidate
    folder = paths.runs_dir() / ref
    if folder.is_dir():
        return folder
    matches = [p for p in list_run_dirs() if p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(p.name for p in matches[:3]) + (
            f" and {len(matches) - 3} more" if len(matches) > 3 else ""
        )
        raise RunNotFound(f"'{ref}' matches {len(matches)} runs ({names}); give more of the run id")
    raise RunNotFound(f"no run '{ref}' (see `fttui runs`)")


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

    problem = _check_launch(args)
    if problem:
        error(problem)
        return EXIT_BAD_INPUT
    try:
        run_dir = locate_run(args.run)
    except RunNotFound as exc:
        error(str(exc))
        return EXIT_BAD_INPUT
    history = load_history(run_dir)
    status = history.status()
    if not (run_dir / PRESET_FILE).is_file():
        why = history.finished.error if history.finished and history.finished.error else "no preset.toml"
        error(
            f"run {run_dir.name} never started ({why}); nothing to resume: fix the preset and start a new run"
        )
        return EXIT_BAD_INPUT
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

    def description(path: Path) -> str:
        try:
            cfg.read_toml(path)
        except cfg.PresetError as exc:
            return f"unusable: {exc.message}"  # said here, not first when it is run
        return cfg.describe(path)

    for name, path in cfg.builtin_presets().items():
        if name not in user:
            table.add_row(name, "built-in", description(path))
    for name, path in user.items():
        table.add_row(name, "user", description(path))
    Console(markup=False).print(table)  # names and descriptions are the user's text
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
    # No preset column: the run id names it, and at 80 columns the metric needs the room.
    table.add_column("status", no_wrap=True)
    table.add_column("progress", no_wrap=True)
    console = Console(markup=False)  # names and descriptions are the user's text
    table.add_column("best metric", no_wrap=True)
    # The run id starts with the date and time; a narrow terminal keeps the metric whole instead.
    with_started = console.width >= 100
    if with_started:
        table.add_column("started", no_wrap=True)
    for run_dir in runs:
        row = load_history(run_dir).summary_row()
        progress = f"{row['step']}/{row['total_steps']}" if row["total_steps"] else "--"
        metric = f"{row['metric']} {fmt_metric(row['value'])}" if row["value"] is not None else "--"
        started = time.strftime("%m-%d %H:%M", time.localtime(row["started"])) if row["started"] else "--"
        cells = [run_dir.name, row["status"], progress, metric]
        table.add_row(*cells, *([started] if with_started else []))
    console.print(table)
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    from engine.history import load_history
    from engine.stopping import request_stop

    try:
        run_dir = locate_run(args.run)
    except RunNotFound as exc:
        error(str(exc))
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
