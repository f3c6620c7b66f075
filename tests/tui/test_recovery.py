"""Resume, retry after running out of GPU memory, several processes: from the app, with the launcher replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w
from textual.widgets import Input

from tests.tui.conftest import (
    RUN_ID,
    as_run,
    index_of,
    record_notifications,
    recorded_events,
    replay_run,
    wait_for,
)
from tests.tui.test_setup_screens import tab_to
from tui import run_recovery
from tui.app import FineTuneApp
from tui.run_setup import RunSetup
from tui.screens.arguments import ArgumentsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.home import HomeScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.loss_chart import LossChart
from tui.widgets.progress_panel import TrainingProgress

OOM_ERROR = (
    "out of GPU memory: halve per_device_train_batch_size (32 -> 16) and double "
    "gradient_accumulation_steps (1 -> 2); lower [dataset] max_length"
)


class FakeProcess:
    """Stands in for the engine's process: alive until told otherwise."""

    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class Launcher:
    """Replaces ``engine.launch.start_detached``: records each call, optionally writes the run's log."""

    def __init__(self, home: Path, write=None) -> None:
        self.home = home
        self.write = write
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, preset_ref: str, **kwargs) -> tuple[Path, FakeProcess]:
        self.calls.append(((preset_ref,), kwargs))
        run_dir = kwargs.get("run_dir") or self.home / "runs" / f"20260102-000000-new-{len(self.calls):04d}"
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.write is not None:
            self.write(run_dir)
        return run_dir, FakeProcess()


@pytest.fixture
def launcher(fttui_home: Path, monkeypatch: pytest.MonkeyPatch) -> Launcher:
    fake = Launcher(fttui_home)
    monkeypatch.setattr("engine.launch.start_detached", fake)
    return fake


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


def append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write("".join(line + "\n" for line in lines))


def stopped_run(home: Path, *, checkpoint: bool = True) -> Path:
    """The recorded run, stopped right after its first epoch's checkpoint (step 19 of 38)."""
    events = recorded_events()
    saved = index_of(events, lambda e: e["event"] == "checkpoint_saved")
    run_dir = home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    at = events[saved]["time"]
    stop = {"event": "stop_requested", "schema": 1, "time": at, "reason": "stop requested", "step": 19}
    end = {"event": "run_finished", "schema": 1, "time": at + 1, "status": "stopped"}
    end.update(duration_seconds=16.0, last_checkpoint=str(run_dir / "checkpoint-19"))
    lines = as_run([*events[: saved + 1], stop, end], run_dir, live=False)
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if checkpoint:
        (run_dir / "checkpoint-19").mkdir()
        (run_dir / "checkpoint-19" / "trainer_state.json").write_text('{"global_step": 19}')
    return run_dir


def resumed_segment(run_dir: Path) -> list[str]:
    """What `fttui resume` appends: a resumed start, a plan from step 19, then the recorded second epoch."""
    events = recorded_events()
    saved = index_of(events, lambda e: e["event"] == "checkpoint_saved")
    plan = index_of(events, lambda e: e["event"] == "training_plan")
    first = events[saved + 1]["time"]
    start = dict(events[0], resumed=True, time=first - 2)
    training = dict(events[plan - 1], time=first - 1)
    planned = dict(events[plan], start_step=19, time=first - 1)
    return as_run([start, training, planned, *events[saved + 1 :]], run_dir, live=True)


def loss_steps(lines: list[str]) -> list[int]:
    return [e["step"] for e in map(json.loads, lines) if e["event"] == "step_loss"]


async def test_a_stopped_run_resumes_and_the_view_follows_the_same_log_to_the_end(
    fttui_home: Path, launcher: Launcher
):
    run_dir = stopped_run(fttui_home)
    log = run_dir / "events.jsonl"
    first_losses = loss_steps(log.read_text().splitlines())
    segment = resumed_segment(run_dir)
    early = index_of([json.loads(line) for line in segment], lambda e: e.get("step") == 22) + 1
    launcher.write = lambda _: append(log, segment[:early])

    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_for(pilot, lambda: screen.history.finished is not None, what="the stopped log")
        await pilot.pause(0.2)
        assert screen.query_one(TrainingProgress).view.status == "stopped"
        assert screen.check_action("resume", ()) is True
        assert "Resume run" in [c.title for c in app.get_system_commands(screen)]
        assert any(n.startswith("Run stopped") and "R to resume" in n for n in seen)

        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        question = text(dialog, "#confirm-text")
        assert "continues from checkpoint-19 (step 19 of 38)" in question
        assert "event log continues" in question
        assert not launcher.calls, "nothing starts before the user confirms"
        await pilot.press("enter")

        assert launcher.calls == [
            ((str(run_dir),), {"run_dir": run_dir, "resume": True, "nproc_per_node": 1})
        ]
        assert app.screen is screen, "the same live view goes on following the log"
        progress = screen.query_one(TrainingProgress)
        await wait_for(pilot, lambda: progress.view.status == "running", what="the resumed segment")
        await wait_for(pilot, lambda: progress.view.step == 22, what="the step counter to go on")
        assert " · resumed from step 19 · CPU" in text(screen, "#run-title")
        assert screen.check_action("resume", ()) is False
        assert screen.check_action("stop_run", ()) is True
        assert any("resumed" in n for n in seen)

        append(log, segment[early:])
        await wait_for(pilot, lambda: progress.view.status == "completed", what="the end of the resumed run")
        await pilot.pause(0.2)
        history = screen.history
        assert history.segments == 2 and progress.view.step == 38
        assert [s.step for s in history.losses] == first_losses + loss_steps(segment)
        assert first_losses and first_losses[-1] < 19 < loss_steps(segment)[0]
        assert len(screen.query_one(LossChart).train) == len(history.losses)
        assert [e.step for e in history.evaluations] == [19, 38]
        assert any(n.startswith("Run completed") for n in seen)
        assert screen.check_action("resume", ()) is False
        await pilot.press("R")
        assert app.screen is screen, "a completed run offers no resume"
    assert len(launcher.calls) == 1


async def test_home_resumes_the_highlighted_run_and_opens_its_live_view(fttui_home: Path, launcher: Launcher):
    run_dir = stopped_run(fttui_home)
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        home = app.screen
        runs = home.query_one("#runs")
        await wait_for(pilot, lambda: runs.row_count == 1, what="the run on home")
        await wait_for(pilot, lambda: home.check_action("resume", ()) is True, what="resume to be offered")
        assert "Resume run" in [c.title for c in app.get_system_commands(home)]
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        assert launcher.calls[0][1]["resume"] is True
        live = app.screen
        assert isinstance(live, RunScreen) and live.run_dir == run_dir
        assert app.is_resuming(run_dir)
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        assert home.check_action("resume", ()) is False, "no second resume while the first one starts"
        await pilot.press("R")
        assert isinstance(app.screen, HomeScreen)
    assert len(launcher.calls) == 1


async def test_a_completed_run_offers_no_resume_anywhere(fttui_home: Path, launcher: Launcher):
    run_dir = replay_run(fttui_home)
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.query_one("#runs").row_count == 1, what="the run on home")
        await pilot.pause(0.2)
        assert home.check_action("resume", ()) is False
        app.open_run(run_dir)
        await pilot.pause()
        live = app.screen
        await wait_for(pilot, lambda: live.history.finished is not None, what="the log")
        await pilot.pause(0.2)
        assert live.check_action("resume", ()) is False
        assert "Resume run" not in [c.title for c in app.get_system_commands(live)]
        app.resume_run(run_dir)
        assert any("already completed" in n for n in seen)
        await pilot.press("r")
        assert isinstance(app.screen, ResultsScreen)
        assert app.screen.check_action("resume", ()) is False
    assert not launcher.calls


async def test_resuming_without_a_checkpoint_says_it_starts_from_step_0(fttui_home: Path, launcher: Launcher):
    events = recorded_events()
    run_dir = replay_run(fttui_home, upto=index_of(events, lambda e: e["event"] == "epoch_metrics"))
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        progress = live.query_one(TrainingProgress)
        await wait_for(pilot, lambda: progress.view.status == "crashed", what="the crash")
        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "no checkpoint: training starts again from step 0" in text(dialog, "#confirm-text")
        await pilot.press("escape")
        assert app.screen is live
    assert not launcher.calls


async def test_a_resume_that_fails_to_start_says_why(fttui_home: Path, launcher: Launcher, monkeypatch):
    monkeypatch.setattr("tui.screens.run.LIVENESS_SECONDS", 0.3)
    run_dir = stopped_run(fttui_home)
    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        await wait_for(pilot, lambda: live.history.finished is not None, what="the stopped log")
        await pilot.pause(0.2)
        await pilot.press("R", "enter")
        assert launcher.calls
        (run_dir / "run.log").write_text("fttui: error: [training] something the engine rejects\n")
        live.process.returncode = 2
        await wait_for(
            pilot, lambda: any("did not resume" in n for n in seen), timeout=10, what="the failure"
        )
        assert any("something the engine rejects" in n for n in seen)
        assert live.query_one(TrainingProgress).view.status == "stopped"
        assert live.check_action("resume", ()) is True, "it can be tried again"


def test_which_runs_can_resume(tmp_path: Path):
    assert run_recovery.can_resume(tmp_path, "stopped") and run_recovery.can_resume(tmp_path, "crashed")
    assert not run_recovery.can_resume(tmp_path, "failed")
    assert not run_recovery.can_resume(tmp_path, "completed") and not run_recovery.can_resume(
        tmp_path, "running"
    )
    (tmp_path / "checkpoint-5").mkdir()
    assert not run_recovery.can_resume(tmp_path, "failed"), (
        "a checkpoint is complete once trainer_state.json is"
    )
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text("{}")
    assert run_recovery.can_resume(tmp_path, "failed")
    assert run_recovery.last_checkpoint(tmp_path) == tmp_path / "checkpoint-12"


# -- out of GPU memory ---------------------------------------------------------------------------


def out_of_memory_run(home: Path) -> Path:
    """A run that ran out of GPU memory at its first step, with its effective preset (batch 32, accumulation 1)."""
    events = recorded_events()
    plan = index_of(events, lambda e: e["event"] == "training_plan")
    run_dir = home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    failure = {"event": "run_finished", "schema": 1, "time": events[plan]["time"] + 1, "status": "failed"}
    failure.update(duration_seconds=3.0, error=OOM_ERROR, error_type="OutOfMemoryError")
    lines = [*as_run(events[: plan + 1], run_dir, live=False), json.dumps(failure)]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    preset = dict(events[0]["config"])
    preset["training"] = dict(preset["training"], gradient_accumulation_steps=1)
    (run_dir / "preset.toml").write_text(tomli_w.dumps(preset))
    return run_dir


async def test_out_of_memory_offers_a_retry_with_half_the_batch(fttui_home: Path, launcher: Launcher):
    run_dir = out_of_memory_run(fttui_home)
    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        await wait_for(pilot, lambda: live.history.finished is not None, what="the failure")
        await pilot.pause(0.2)
        assert OOM_ERROR in text(live, "#run-error")
        assert any(OOM_ERROR in n and "press m to retry" in n for n in seen)
        assert live.check_action("retry_memory", ()) is True
        assert live.check_action("resume", ()) is False, "no checkpoint to resume from"
        assert "Retry with less GPU memory" in [c.title for c in app.get_system_commands(live)]

        await pilot.press("r")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert OOM_ERROR in text(results, "#results-error")
        assert "m: retry as a new run" in text(results, "#results-error")
        assert results.check_action("retry_memory", ()) is True
        assert "Retry with less GPU memory" in [c.title for c in app.get_system_commands(results)]

        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        question = text(app.screen, "#confirm-text")
        assert "per_device_train_batch_size 32 -> 16, gradient_accumulation_steps 1 -> 2" in question
        assert not launcher.calls
        await pilot.press("enter")
        assert len(launcher.calls) == 1
        args, kwargs = launcher.calls[0]
        assert args == (str(run_dir / "preset.toml"),)
        assert kwargs["overrides"] == [
            "training.per_device_train_batch_size=16",
            "training.gradient_accumulation_steps=2",
        ]
        assert kwargs["preset_name"] == "demo" and kwargs["nproc_per_node"] == 1
        new = app.screen
        assert isinstance(new, RunScreen) and new.run_dir != run_dir
        assert any(n.startswith("Retry started") and "32 -> 16" in n for n in seen)


async def test_a_retry_whose_preset_is_gone_says_so(fttui_home: Path, launcher: Launcher):
    run_dir = out_of_memory_run(fttui_home)
    (run_dir / "preset.toml").unlink()
    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        await wait_for(pilot, lambda: live.history.finished is not None, what="the failure")
        await pilot.pause(0.2)
        await pilot.press("m")
        await wait_for(pilot, lambda: any("Reading the run's preset failed" in n for n in seen), what="why")
        assert any("no such preset file" in n for n in seen)
        assert app.screen is live
    assert not launcher.calls


async def test_a_run_that_did_not_run_out_of_memory_offers_no_retry(fttui_home: Path, launcher: Launcher):
    run_dir = stopped_run(fttui_home)
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        await wait_for(pilot, lambda: live.history.finished is not None, what="the log")
        await pilot.pause(0.2)
        assert live.check_action("retry_memory", ()) is False
        await pilot.press("m")
        await pilot.pause(0.2)
        assert app.screen is live
    assert not launcher.calls


# -- several processes ---------------------------------------------------------------------------


async def test_processes_per_node_in_setup_reach_the_launcher_and_the_command(
    home_with_demo: Path, launcher: Launcher
):
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.open_setup("arguments", RunSetup.for_preset("demo"))
        await pilot.pause()
        arguments = app.screen
        assert isinstance(arguments, ArgumentsScreen)
        field = arguments.query_one("#nproc", Input)
        assert field.value == "1" and "--nproc-per-node" not in text(arguments, "#command-preview")
        await tab_to(pilot, "nproc")

        await pilot.press("ctrl+u", "0")
        assert field.has_class("-invalid")
        assert "processes per node" in text(arguments, "#setup-error")
        await pilot.press("enter")
        assert any(n.startswith("Not applied") for n in seen)
        assert arguments.setup.nproc_per_node == 1

        await pilot.press("ctrl+u", *"two")
        assert field.value == "", "a number field takes digits only"
        await pilot.press("2", "enter")
        assert arguments.setup.nproc_per_node == 2
        assert not field.has_class("-invalid") and not text(arguments, "#setup-error")
        assert text(arguments, "#command-preview") == "$ fttui run demo --nproc-per-node 2"

        await pilot.press("ctrl+r")
        assert len(launcher.calls) == 1
        assert launcher.calls[0][1]["nproc_per_node"] == 2
        assert isinstance(app.screen, RunScreen)


async def test_a_multi_process_run_shows_its_world_size(fttui_home: Path):
    run_dir = replay_run(fttui_home, upto=30, live=True)
    log = run_dir / "events.jsonl"
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first["world_size"] = 2
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(100, 32)) as pilot:
        live = app.screen
        await wait_for(pilot, lambda: live.history.started is not None, what="the log")
        await pilot.pause(0.2)
        assert "world size 2" in text(live, "#run-title")


async def test_a_run_whose_process_died_before_its_first_event_is_listed_with_why(
    fttui_home: Path, launcher: Launcher
):
    from engine.history import load_history
    from engine.paths import RUN_LOG

    def broken_install(run_dir: Path) -> None:
        (run_dir / RUN_LOG).write_text(
            "Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'torch'\n",
            encoding="utf-8",
        )

    launcher.write = broken_install
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        run_dir = app.start_run(RunSetup.for_preset("demo"))
        await pilot.press("escape")  # left the live view before the process died
        app.launched[run_dir].returncode = 1
        app.record_failed_starts()
        history = load_history(run_dir)
        assert history.status() == "failed"
        assert history.finished.error == "ModuleNotFoundError: No module named 'torch'"
        assert history.started.preset == "demo"
        home = app.screen
        assert isinstance(home, HomeScreen)
        home.list_runs()
        runs = home.query_one("#runs")
        await wait_for(pilot, lambda: runs.row_count == 1, what="the failed run listed")
        assert str(runs.get_row_at(0)[1]) == "failed"
