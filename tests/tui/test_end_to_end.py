"""Real demo runs started from the app by keyboard: one to an exported results file, one stopped midway, one resumed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from engine.events import RunStarted, read_events
from tests.tui.conftest import record_notifications, wait_for
from tests.tui.test_setup_screens import tab_to
from tui.app import FineTuneApp
from tui.run_setup import RunSetup
from tui.screens.arguments import ArgumentsScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.export import ExportScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.progress_panel import TrainingProgress

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow
RUN_TIMEOUT = 150.0


async def test_demo_from_preset_to_exported_results(home_with_demo: Path, tmp_path: Path):
    export_to = tmp_path / "exported" / "demo-results.toml"
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter")
        dataset = app.screen
        assert isinstance(dataset, DatasetScreen) and dataset.setup.preset_name == "demo"
        await tab_to(pilot, "max_train_samples")
        await pilot.press(*"200", "enter")
        await tab_to(pilot, "max_eval_samples")
        await pilot.press(*"100", "enter")

        await pilot.press("ctrl+n", "ctrl+n")
        arguments = app.screen
        assert isinstance(arguments, ArgumentsScreen)
        await wait_for(
            pilot, lambda: arguments.fields is not None, timeout=60, what="TrainingArguments fields"
        )
        await pilot.press("slash", *"num_train_epochs", "enter", "enter", "ctrl+u", "1", "enter")
        assert arguments.setup.edits == {
            "dataset.max_train_samples": 200,
            "dataset.max_eval_samples": 100,
            "training.num_train_epochs": 1,
        }

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the live view")
        live = app.screen
        await wait_for(
            pilot, lambda: live.history.finished is not None, timeout=RUN_TIMEOUT, what="the run to end"
        )
        assert live.history.finished.status == "completed", live.history.finished.error
        assert live.history.evaluations and live.history.predictions is not None
        assert any(n.startswith("Run completed") for n in seen)

        await pilot.press("r")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.query_one(Input).value == str(live.run_dir / "results-export.toml")
        await pilot.press("ctrl+u", *str(export_to), "enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ResultsScreen), what="the export dialog to close"
        )
        assert any(n.startswith("Results exported") and str(export_to) in n for n in seen)
        assert str(export_to) in str(results.query_one("#export-note").content)

    data = tomllib.loads(export_to.read_text(encoding="utf-8"))
    assert data["results"]["status"] == "completed"
    assert set(data["results"]["final_metrics"]) >= {"accuracy", "f1", "loss"}
    assert data["training"]["num_train_epochs"] == 1
    assert data["dataset"]["max_train_samples"] == 200
    assert data["results"]["provenance"]["training.num_train_epochs"] == "screen edit"
    assert data["results"]["predictions"]["confusion"]


async def test_stopping_from_the_app_ends_stopped_with_a_checkpoint(home_with_demo: Path):
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the live view")
        live = app.screen
        await wait_for(pilot, lambda: live.history.step >= 2, timeout=RUN_TIMEOUT, what="training to begin")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: live.history.finished is not None, timeout=RUN_TIMEOUT, what="the run to end"
        )
        assert live.history.stop_requested is not None
        assert live.history.finished.status == "stopped"
        assert list(live.run_dir.glob("checkpoint-*")), "a stopped run leaves a checkpoint to resume from"
        assert live.history.finished.last_checkpoint


async def test_a_stopped_run_resumes_from_the_app_and_completes_as_one_run(home_with_demo: Path):
    setup = RunSetup.for_preset("demo")
    # Small batches: enough steps (2 x 20) for the stop to land midway, each of them quick.
    small = {
        "dataset.max_train_samples": 160,
        "dataset.max_eval_samples": 64,
        "training.num_train_epochs": 2,
        "training.per_device_train_batch_size": 8,
    }
    assert setup.try_edits(small) is None
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.start_run(setup)
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the live view")
        live = app.screen
        # Asked as soon as training begins, the stop lands in the first epoch even on a fast machine.
        await wait_for(pilot, lambda: live.history.plan is not None, timeout=RUN_TIMEOUT, what="training")
        await pilot.press("s")
        await wait_for(pilot, lambda: live.history.finished is not None, timeout=RUN_TIMEOUT, what="the stop")
        assert live.history.finished.status == "stopped"
        stopped_at = live.history.step
        assert stopped_at < live.history.total_steps

        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        assert f"checkpoint-{stopped_at}" in str(app.screen.query_one("#confirm-text").content)
        await pilot.press("enter")
        assert app.screen is live
        await wait_for(pilot, lambda: live.history.segments == 2, timeout=RUN_TIMEOUT, what="the resume")
        await wait_for(
            pilot, lambda: live.history.finished is not None, timeout=RUN_TIMEOUT, what="the resumed run"
        )
        assert live.history.finished.status == "completed", live.history.finished.error
        assert live.history.plan.start_step == stopped_at
        assert f"resumed from step {stopped_at}" in str(live.query_one("#run-title").content)

    starts = [e for e in read_events(live.run_dir / "events.jsonl") if isinstance(e, RunStarted)]
    assert [e.resumed for e in starts] == [False, True]
    results = tomllib.loads((live.run_dir / "results.toml").read_text(encoding="utf-8"))["results"]
    assert results["status"] == "completed"
    assert [epoch["epoch"] for epoch in results["epochs"]] == [1, 2]


async def test_a_run_the_engine_rejects_before_starting_says_why(home_with_demo: Path):
    """The app checks what it can without transformers; the engine's own check still has the last word."""
    setup = RunSetup.for_preset("demo")
    assert setup.try_edits({"training.bf16": True}) is None
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.start_run(setup)
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the live view")
        live = app.screen
        await pilot.pause()
        progress = live.query_one(TrainingProgress)
        await wait_for(
            pilot, lambda: progress.view.status == "failed", timeout=RUN_TIMEOUT, what="the failure"
        )
        assert "bf16" in progress.view.error and "GPU" in progress.view.error
        assert any(n.startswith("Run failed") and "bf16" in n for n in seen)
        assert live.check_action("results", ()) is None


async def test_a_run_still_starting_can_be_stopped_and_quitting_asks_about_it(home_with_demo: Path):
    from tui.screens.quit_confirm import QuitScreen

    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        run_dir = app.start_run(RunSetup.for_preset("demo"))
        live = app.screen
        assert isinstance(live, RunScreen)
        # The engine is still importing: nothing in its log yet, but it is a live run.
        assert app.is_starting(run_dir) and live.history.started is None
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen), "quitting asks about a run that is still starting"
        await pilot.press("escape")
        await wait_for(pilot, lambda: live.check_action("stop_run", ()) is True, what="stop to be offered")
        await pilot.press("s")
        await wait_for(
            pilot, lambda: live.history.finished is not None, timeout=RUN_TIMEOUT, what="the run to end"
        )
        assert live.history.finished.status == "stopped"
        assert live.history.plan is None, "stopped before training began"
