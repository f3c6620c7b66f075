"""The fttui Textual app: screens, key bindings, command palette, theme, and the `fttui` entry point.

Nothing here imports torch, transformers or datasets: runs train in processes of their
own (``engine.launch.start_detached``) and the app follows their event logs.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from engine import config as cfg
from engine import launch, paths
from engine.cli import RunNotFound, locate_run
from tui import run_recovery
from tui.messages import MemoryRetryPlanned
from tui.run_index import RunIndex
from tui.run_setup import RunSetup
from tui.screens.arguments import ArgumentsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.model import ModelScreen
from tui.screens.quit_confirm import QuitScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.screens.setup import SetupScreen

# For the benchmark: when set, the app writes the wall-clock time of its first frame to
# this file and exits (see tests/benchmarks/bench_tui.py).
FIRST_PAINT_ENV = "FTTUI_FIRST_PAINT_FILE"

FTTUI_THEME = Theme(
    name="fttui",
    primary="#5FA8D3",
    secondary="#8FB996",
    accent="#F4A259",
    warning="#F4A259",
    error="#E4572E",
    success="#7BC950",
    foreground="#E6E6E6",
    background="#14181C",
    surface="#1C2228",
    panel="#26303A",
    dark=True,
)


class FineTuneApp(App[int]):
    """Presets, setup, live runs and results, by keyboard; training happens in separate processes."""

    TITLE = "fttui"
    SUB_TITLE = "fine-tune transformers"
    CSS_PATH = "fttui.tcss"

    BINDINGS = [
        Binding(
            "ctrl+q",
            "request_quit",
            "Quit",
            id="app.quit",
            priority=True,
            tooltip="Quit the app; while a run is live, asks whether to stop it or leave it running",
        ),
        Binding(
            "ctrl+c",
            "request_quit",
            "Quit",
            show=False,
            id="app.quit_ctrl_c",
            priority=True,
            tooltip="Like ctrl+q: never kills a live run without asking",
        ),
        Binding(
            "q",
            "request_quit",
            "Quit",
            show=False,
            id="app.quit_q",
            tooltip="Quit (when no text field has focus)",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            id="app.help",
            tooltip="Keys and what this screen does",
        ),
        Binding("f1", "help", "Help", show=False, id="app.help_f1", priority=True, tooltip="Keys and help"),
    ]

    def __init__(self, attach: Path | None = None, first_paint_file: Path | None = None) -> None:
        super().__init__()
        self.attach = attach
        self.first_paint_file = first_paint_file
        self.run_index = RunIndex()
        # Runs started or opened in this session: quitting asks about the ones still live.
        self.runs_in_view: set[Path] = set()
        # Engine processes started here: live from the start, before their first event.
        self.launched: dict[Path, subprocess.Popen] = {}
        self.launched_presets: dict[Path, str] = {}
        # Resumes started here whose process has not yet begun its segment of the log: until
        # it does, the log still says "stopped", and a second resume must not start.
        self.resuming: dict[Path, tuple[subprocess.Popen, int]] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return HomeScreen()

    def on_mount(self) -> None:
        self.register_theme(FTTUI_THEME)
        self.theme = "fttui"
        if self.attach is not None:
            self.open_run(self.attach)
        self.set_interval(2.0, self.record_failed_starts)

    def on_ready(self) -> None:
        # Everything alive now (modules, Textual's machinery) lives as long as the app: keep it
        # out of the collector's full passes, which otherwise stall keys for tens of ms mid-run.
        gc.freeze()
        if self.first_paint_file is not None:
            self.first_paint_file.write_text(f"{time.time()}\n", encoding="utf-8")
            self.exit(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_failure(event.worker)

    def report_failure(self, worker: Worker) -> None:
        """The one place background failures surface: a notification, and the app carries on."""
        error = worker.error
        what = worker.description or worker.name or "background task"
        message = " ".join(str(error).split())[:300] or type(error).__name__
        self.notify(
            f"{what} failed: {message}",
            title="Something went wrong",
            severity="error",
            timeout=10,
            markup=False,
        )

    # -- navigation ----------------------------------------------------------------------------

    def show_over_home(self, screen: Screen) -> None:
        """Setup, run and results screens sit directly on home, so escape always leads back there."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def go_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_preset(self, name: str) -> None:
        self.open_setup("dataset", RunSetup.for_preset(name))

    def open_setup(self, step: str, setup: RunSetup) -> None:
        screens = {"dataset": DatasetScreen, "model": ModelScreen, "arguments": ArgumentsScreen}
        self.show_over_home(screens[step](setup))

    def open_run(self, run_dir: Path, process: subprocess.Popen | None = None, segment: int = 1) -> None:
        """The run's live view; ``process`` (started here) writes the log's ``segment``-th part."""
        # A notice still up about another run ("Run failed") would read as this run's.
        self.clear_notifications()
        self.runs_in_view.add(Path(run_dir))
        self.show_over_home(RunScreen(Path(run_dir), process, segment))

    def open_results(self, run_dir: Path) -> None:
        if not (isinstance(self.screen, RunScreen) and self.screen.run_dir == Path(run_dir)):
            self.clear_notifications()
        self.show_over_home(ResultsScreen(Path(run_dir)))

    def start_run(self, setup: RunSetup) -> Path | None:
        """Start the setup's preset in a process of its own and show its live view."""
        try:
            preset = setup.resolve()
        except cfg.PresetError as exc:
            self.notify(str(exc), title="Cannot start the run", severity="error", timeout=10, markup=False)
            return None
        # What only this machine can refute (bf16 without a GPU), when the setup screens asked it.
        for problem in setup.start_problems(preset):
            self.notify(problem, title="Cannot start the run", severity="error", timeout=10, markup=False)
            return None
        started = self.launch(
            setup.preset_ref,
            edits=setup.edit_strings(),
            preset_name=setup.preset_name,
            nproc_per_node=setup.nproc_per_node,
        )
        if started is None:
            return None
        run_dir, process = started
        self.open_run(run_dir, process)
        self.notify(f"{run_dir.name}: training in its own process", title="Run started", markup=False)
        return run_dir

    def launch(self, preset_ref: str, **kwargs) -> tuple[Path, subprocess.Popen] | None:
        """``engine.launch.start_detached``, with a failure to start the process told to the user."""
        try:
            run_dir, process = launch.start_detached(preset_ref, **kwargs)
            self.launched[run_dir] = process
            self.launched_presets[run_dir] = kwargs.get("preset_name") or Path(str(preset_ref)).stem
            return run_dir, process
        except OSError as exc:
            self.notify(
                f"could not start the engine: {exc}",
                title="Cannot start the run",
                severity="error",
                markup=False,
            )
            return None

    def is_starting(self, run_dir: Path) -> bool:
        """Started from here, its process alive, and no event written yet (imports, loading)."""
        process = self.launched.get(Path(run_dir))
        return (
            process is not None
            and process.poll() is None
            and self.run_index.history(Path(run_dir)).status() == "unknown"
        )

    def record_failed_starts(self) -> None:
        """A process started here that died before its first event (a broken install, an import
        error) leaves a run folder no list would show: give it a log that says why it failed."""
        from engine.cli import record_unstarted_run
        from engine.events import EVENTS_FILE
        from tui.screens.run import launch_failure

        for run_dir, process in list(self.launched.items()):
            code = process.poll()
            if code is None:
                continue
            del self.launched[run_dir]
            name = self.launched_presets.pop(run_dir, run_dir.name)
            if not (run_dir / EVENTS_FILE).exists():
                reason = launch_failure(run_dir, code)
                record_unstarted_run(run_dir, name, reason, error_type="launch failure")

    def live_runs(self) -> list[Path]:
        """Runs this app shows or started that are training, or still starting up."""
        running = self.run_index.live_runs(sorted(self.runs_in_view))
        return running + [d for d in sorted(self.launched) if d not in running and self.is_starting(d)]

    def stop_run(self, run_dir: Path) -> None:
        if self.is_starting(run_dir):
            # The engine checks for the stop file between its start-up stages and ends "stopped".
            self.notify("it stops before training begins", title=f"Stopping {run_dir.name}", markup=False)
            self.request_stops([run_dir])
            return
        if self.run_index.history(run_dir).status() != "running":
            self.notify(f"{run_dir.name} is not running", severity="warning", markup=False)
            return
        self.notify(
            "it stops after the current step, saves a checkpoint and writes results",
            title=f"Stopping {run_dir.name}",
            markup=False,
        )
        self.request_stops([run_dir])

    # -- resume, and retry after running out of memory -------------------------------------------

    def is_resuming(self, run_dir: Path) -> bool:
        """Whether a resume started here is still starting up (its process alive, its segment not yet begun)."""
        entry = self.resuming.get(Path(run_dir))
        if entry is None:
            return False
        process, segment = entry
        if process.poll() is not None or self.run_index.history(run_dir).segments >= segment:
            del self.resuming[Path(run_dir)]
            return False
        return True

    def resume_run(self, run_dir: Path) -> None:
        """Ask, then continue a stopped or crashed run (or a failed one with a checkpoint) in its own folder."""
        run_dir = Path(run_dir)
        if self.is_resuming(run_dir):
            self.notify(f"{run_dir.name} is already resuming", severity="warning", markup=False)
            return
        history = self.run_index.history(run_dir)
        plan = run_recovery.resume_plan(run_dir, history)
        if plan is None:
            message = run_recovery.why_not_resumable(run_dir, history)
            self.notify(message, title="Nothing to resume", severity="warning", markup=False)
            return

        def decide(go: bool | None) -> None:
            if go:
                self.start_resume(plan)

        self.push_screen(ConfirmScreen(f"Resume {run_dir.name}?", plan.lines(), "Resume"), decide)

    def start_resume(self, plan: run_recovery.ResumePlan) -> None:
        run_dir = plan.run_dir
        # The run may have been resumed elsewhere (`fttui resume`) while the question was open.
        status = self.run_index.history(run_dir).status()
        if status == "running" or self.is_resuming(run_dir):
            self.notify(f"{run_dir.name} is already running", severity="warning", markup=False)
            return
        started = self.launch(str(run_dir), run_dir=run_dir, resume=True, nproc_per_node=plan.processes)
        if started is None:
            return
        _, process = started
        self.resuming[run_dir] = (process, plan.segment)
        screen = self.screen
        if isinstance(screen, RunScreen) and screen.run_dir == run_dir:
            screen.watch_process(process, plan.segment)
        else:
            self.open_run(run_dir, process, plan.segment)
        self.notify(
            f"{run_dir.name}: training goes on in its own process; the live view follows the same log",
            title="Resuming",
            markup=False,
        )

    def retry_with_less_memory(self, run_dir: Path) -> None:
        """Offer a new run of an out-of-memory run's preset with half the batch per device and twice the accumulation."""
        history = self.run_index.history(Path(run_dir))
        if not run_recovery.ran_out_of_memory(history):
            self.notify(
                f"{Path(run_dir).name} did not run out of GPU memory", severity="warning", markup=False
            )
            return
        self.plan_memory_retry(Path(run_dir))

    @work(thread=True, exit_on_error=False, group="memory-retry", description="Reading the run's preset")
    def plan_memory_retry(self, run_dir: Path) -> None:
        history = self.run_index.history(run_dir)
        self.post_message(MemoryRetryPlanned(run_recovery.memory_retry_plan(run_dir, history)))

    def on_memory_retry_planned(self, message: MemoryRetryPlanned) -> None:
        plan: run_recovery.MemoryRetryPlan = message.plan

        def decide(go: bool | None) -> None:
            if go:
                self.start_memory_retry(plan)

        self.push_screen(ConfirmScreen("Retry with less GPU memory?", plan.lines(), "Start new run"), decide)

    def start_memory_retry(self, plan: run_recovery.MemoryRetryPlan) -> None:
        started = self.launch(
            str(plan.preset_path),
            overrides=plan.overrides,
            preset_name=plan.preset_name,
            nproc_per_node=plan.processes,
        )
        if started is None:
            return
        run_dir, process = started
        self.open_run(run_dir, process)
        self.notify(f"{run_dir.name}: {', '.join(plan.changes)}", title="Retry started", markup=False)

    @work(thread=True, exit_on_error=False, group="stop-runs", description="Asking the run to stop")
    def request_stops(self, run_dirs: list[Path], exit_message: str | None = None) -> None:
        """Write each run's stop request, then exit the app if asked to (quitting with "stop the run")."""
        from engine.stopping import request_stop

        for run_dir in run_dirs:
            request_stop(run_dir)
        if exit_message is not None:
            self.call_from_thread(self.exit, 0, message=exit_message)

    # -- actions -------------------------------------------------------------------------------

    def action_request_quit(self) -> None:
        if isinstance(self.screen, QuitScreen):
            # Asked twice: leave the runs alone, the choice that loses nothing.
            self.screen.dismiss("leave")
            return
        live = self.live_runs()
        if not live:
            self.exit(0)
            return

        def decide(choice: str | None) -> None:
            if choice == "stop":
                names = ", ".join(d.name for d in live)
                self.notify("writing the stop request…", title="Stopping and quitting", markup=False)
                self.request_stops(live, f"asked {names} to stop: a checkpoint and results are being written")
            elif choice == "leave":
                names = ", ".join(d.name for d in live)
                self.exit(0, message=f"left running: {names} (see `fttui runs`, `fttui attach`)")

        self.push_screen(QuitScreen(live, self.run_index), decide)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """The palette's "Screenshot": into fttui's own folder, which exists on any box, where
        Textual's default (a Downloads folder) often does not on a server reached over SSH."""
        if path is None:
            folder = paths.home() / "screenshots"
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.notify(f"cannot create {folder}: {exc.strerror}", severity="error", markup=False)
                return
            path = str(folder)
        self.deliver_screenshot(filename, path)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.screen))

    # -- command palette -----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from getattr(screen, "palette_commands", lambda: ())()

        def leaving(go: Callable[[], object]) -> Callable[[], object]:
            # Setup with unsaved edits asks before the palette takes the user elsewhere, as Esc does.
            if isinstance(screen, SetupScreen) and screen.setup.unsaved:
                return partial(screen.confirm_discard, go)
            return go

        yield SystemCommand("Home", "Presets and runs", leaving(self.go_home))
        presets = {**cfg.builtin_presets(), **cfg.user_presets()}
        for name, path in presets.items():
            yield SystemCommand(
                f"Open preset: {name}", cfg.describe(path), leaving(partial(self.open_preset, name))
            )
        for run_dir, row in self.run_index.summaries(limit=15):
            progress = f"{row['step']}/{row['total_steps']}" if row["total_steps"] else ""
            yield SystemCommand(
                f"Attach run: {run_dir.name}",
                f"{row['status']} {progress} · preset {row['preset']}",
                leaving(partial(self.open_run, run_dir)),
            )
        yield SystemCommand("Help", "Keys and what this screen shows (also ? or F1)", self.action_help)
        yield SystemCommand(
            "Quit", "Quit fttui; while a run is live, asks whether to stop it", self.action_request_quit
        )
        for command in super().get_system_commands(screen):
            # Textual's "Quit" would skip the question about live runs; its key panel docks
            # beside the screen and Esc does not close it (fttui's help lists the same keys).
            if command.title not in ("Keys", "Quit"):
                yield command


def run_app(attach: str | None = None) -> int:
    """Open the app (``fttui``), or a run's live view straight away (``fttui attach [RUN]``)."""
    run_dir = None
    if attach is not None:
        try:
            run_dir = locate_run(attach)
        except RunNotFound as exc:
            print(f"fttui: error: {exc}", file=sys.stderr)
            return 2
    paint_file = os.environ.get(FIRST_PAINT_ENV)
    app = FineTuneApp(attach=run_dir, first_paint_file=Path(paint_file) if paint_file else None)
    result = app.run()
    return result if isinstance(result, int) else 0
