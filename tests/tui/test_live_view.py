"""The live view, driven by a recorded event log written into a run folder line by line."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

from tests.tui.conftest import (
    RUN_ID,
    as_run,
    index_of,
    record_notifications,
    recorded_events,
    replay_run,
    wait_for,
)
from tui.app import FineTuneApp, run_app
from tui.screens.home import HomeScreen
from tui.screens.quit_confirm import QuitScreen
from tui.screens.results import ResultsScreen
from tui.screens.run import RunScreen
from tui.widgets.gpu_memory import NO_GPU, GpuMemoryPanel
from tui.widgets.loss_chart import LossChart
from tui.widgets.metrics_table import MetricsTable
from tui.widgets.mistakes import ConfidentMistakes
from tui.widgets.progress_panel import TrainingProgress
from tui.widgets.warnings_panel import WarningsPanel


def plain(renderable) -> str:
    console = Console(width=140, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def label_text(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


async def write_slowly(pilot, path: Path, lines: list[str], per_batch: int = 7) -> None:
    """Append lines the way a run does, a few at a time, letting the app run in between."""
    with path.open("a", encoding="utf-8") as log:
        for start in range(0, len(lines), per_batch):
            log.write("".join(line + "\n" for line in lines[start : start + per_batch]))
            log.flush()
            await pilot.pause(0.05)


async def test_replayed_log_builds_the_live_view_step_by_step(fttui_home: Path):
    events = recorded_events()
    run_dir = fttui_home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    log = run_dir / "events.jsonl"
    lines = as_run(events, run_dir, live=True)
    first_eval = index_of(events, lambda e: e["event"] == "epoch_metrics")
    log.write_text("")

    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(run_dir)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen)

        await write_slowly(pilot, log, lines[: first_eval + 1])
        await wait_for(pilot, lambda: len(screen.history.evaluations) == 1, what="the first evaluation")
        await pilot.pause(0.2)
        progress = screen.query_one(TrainingProgress).view
        assert progress.status == "running"
        assert progress.step == screen.history.step > 0
        assert progress.total_steps == 38
        assert "step" in label_text(screen, "#step-figures")
        chart = screen.query_one(LossChart)
        assert len(chart.train) == len([e for e in events[: first_eval + 1] if e["event"] == "step_loss"])
        assert len(chart.evals) == 1
        table = plain(screen.query_one(MetricsTable).content)
        assert "1.00" in table and "★ best accuracy" in table
        assert label_text(screen.query_one(GpuMemoryPanel), "#gpu-note") == NO_GPU
        warnings = screen.query_one(WarningsPanel)
        assert [w.category for w in warnings.warnings] == ["load_report"]
        assert "load_report" in str(warnings.content)
        assert screen.check_action("stop_run", ()) is True

        await write_slowly(pilot, log, lines[first_eval + 1 :])
        await wait_for(pilot, lambda: screen.history.finished is not None, what="the end of the log")
        await pilot.pause(0.2)
        assert screen.query_one(TrainingProgress).view.status == "completed"
        assert screen.query_one(TrainingProgress).view.step == 38
        assert len(screen.query_one(LossChart).evals) == 2
        table = plain(screen.query_one(MetricsTable).content)
        assert "2.00" in table and table.count("★") == 1
        assert screen.check_action("stop_run", ()) is False
        assert any(n.startswith("Run completed") for n in seen)

        await pilot.press("r")
        assert isinstance(app.screen, ResultsScreen)
        # The recorded run predicted "negative" for all 600: 300 mistakes, the 10 surest listed.
        mistakes = plain(app.screen.query_one(ConfidentMistakes).content)
        assert "the 10 most confident of 300 mistakes" in mistakes
        assert mistakes.count("positive") >= 10


async def test_mistakes_panel_says_what_an_empty_list_means():
    from textual.app import App

    from engine.events import ValidationPredictions, WrongExample

    class Host(App):
        def compose(self):
            yield ConfidentMistakes(limit=2)

    wrong = WrongExample(
        text="It was not bad at all.", label="positive", predicted="negative", confidence=0.9
    )
    async with Host().run_test() as pilot:
        panel = pilot.app.query_one(ConfidentMistakes)
        assert "no predictions yet" in plain(panel.content)
        panel.predictions = ValidationPredictions(labels=[], confusion=[], most_confident_wrong=[])
        assert "regression" in plain(panel.content)
        panel.predictions = ValidationPredictions(
            labels=["negative", "positive"], confusion=[[40, 0], [0, 60]], most_confident_wrong=[]
        )
        assert "no mistakes: all 100 validation examples were predicted right" in plain(panel.content)
        panel.predictions = ValidationPredictions(
            labels=["negative", "positive"], confusion=[[40, 0], [1, 59]], most_confident_wrong=[wrong]
        )
        shown = plain(panel.content)
        assert "the only mistake" in shown and "It was not bad at all." in shown and "90.0%" in shown
        panel.predictions = ValidationPredictions(
            labels=["negative", "positive"], confusion=[[38, 2], [1, 59]], most_confident_wrong=[wrong] * 3
        )
        assert "the 2 most confident of 3 mistakes" in plain(panel.content)


async def test_fast_stream_collapses_into_few_redraws_without_losing_events(fttui_home: Path):
    """A burst of events reaches the history in full; ticks for the same backlog merge."""
    run_dir = replay_run(fttui_home, upto=3, live=True)
    events = recorded_events()
    lines = as_run(events, run_dir, live=True)[3:]
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(run_dir)
        await pilot.pause()
        screen = app.screen
        ticks = []
        original = screen.refresh_view
        screen.refresh_view = lambda: (ticks.append(1), original())[1]
        with (run_dir / "events.jsonl").open("a", encoding="utf-8") as log:
            log.write("".join(line + "\n" for line in lines))
        await wait_for(pilot, lambda: screen.history.finished is not None, what="the whole burst")
        assert screen.history.events_seen == len(events)
        assert len(screen.history.losses) == sum(e["event"] == "step_loss" for e in events)
        assert len(ticks) < len(lines)


async def test_attach_rebuilds_a_running_run_from_its_log_and_home_lists_it(fttui_home: Path):
    events = recorded_events()
    second_epoch = index_of(events, lambda e: e["event"] == "epoch_metrics") + 5
    run_dir = replay_run(fttui_home, upto=second_epoch, live=True)

    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        home = app.screen
        assert isinstance(home, HomeScreen)
        runs = home.query_one("#runs")
        await wait_for(pilot, lambda: runs.row_count == 1, what="the run on the home screen")
        row = runs.get_row_at(0)
        assert str(row[1]) == "running"
        assert "/38" in str(row[2])

    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_for(pilot, lambda: screen.history.events_seen == second_epoch, what="the whole log")
        await pilot.pause(0.2)
        assert screen.query_one(TrainingProgress).view.status == "running"
        assert len(screen.history.evaluations) == 1
        assert screen.query_one(LossChart).train


def test_attach_to_an_unknown_run_says_so(fttui_home: Path, capsys):
    assert run_app(attach="no-such-run") == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err


async def test_a_failed_run_shows_its_error_plainly(fttui_home: Path):
    events = recorded_events()
    loaded = index_of(events, lambda e: e["event"] == "model_loaded")
    run_dir = fttui_home / "runs" / RUN_ID
    run_dir.mkdir(parents=True)
    error = "out of GPU memory: halve per_device_train_batch_size (32 -> 16)"
    failure = {"event": "run_finished", "schema": 1, "time": events[loaded]["time"] + 1, "status": "failed"}
    failure.update(duration_seconds=3.0, error=error, error_type="OutOfMemoryError")
    lines = [*as_run(events[: loaded + 1], run_dir, live=False), json.dumps(failure)]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")

    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.history.finished is not None, what="the failure")
        await pilot.pause(0.2)
        assert screen.query_one(TrainingProgress).view.status == "failed"
        assert error in label_text(screen, "#run-error")
        assert any(error in n for n in seen)
        await pilot.press("r")
        results = app.screen
        assert isinstance(results, ResultsScreen)
        assert error in label_text(results, "#results-error")
        await pilot.press("e")
        assert isinstance(app.screen, ResultsScreen), "no results.toml: nothing to export, and no dialog"


async def test_a_run_whose_process_died_shows_as_crashed(fttui_home: Path):
    events = recorded_events()
    run_dir = replay_run(
        fttui_home, upto=index_of(events, lambda e: e["event"] == "epoch_metrics"), live=False
    )
    app = FineTuneApp(attach=run_dir)
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        await wait_for(
            pilot, lambda: screen.query_one(TrainingProgress).view.status == "crashed", what="crashed"
        )
        assert any("crashed" in n for n in seen)


async def test_quitting_while_live_asks_and_leaving_keeps_the_run(fttui_home: Path):
    run_dir = replay_run(fttui_home, upto=40, live=True)
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+c")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunScreen)
        quit_command = next(c for c in app.get_system_commands(app.screen) if c.title == "Quit")
        quit_command.callback()  # the palette's Quit asks too
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("l")
        await pilot.pause()
    assert app.return_code == 0
    assert not (run_dir / "STOP").exists()


async def test_quitting_with_stop_asks_the_run_to_stop(fttui_home: Path):
    run_dir = replay_run(fttui_home, upto=40, live=True)
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        await pilot.press("s")
        deadline = time.monotonic() + 60
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.1)
    assert (run_dir / "STOP").exists()


async def test_resizing_keeps_the_live_view_usable(fttui_home: Path):
    run_dir = replay_run(fttui_home)
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen.history.finished is not None, what="the log")
        chart = screen.query_one(LossChart)
        assert not screen.has_class("-narrow")
        assert chart.region.width < 100, "chart and side panel share the row when wide"
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert screen.has_class("-narrow")
        assert chart.region.width >= 70 and chart.region.right <= 80
        assert screen.query_one("Footer").region.y == 23
        # The per-epoch metrics start on screen, above the footer, without scrolling.
        assert screen.query_one(MetricsTable).region.y + 3 < 23
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert not screen.has_class("-narrow")


async def test_command_palette_offers_the_main_actions(fttui_home: Path):
    run_dir = replay_run(fttui_home)
    live = replay_run(fttui_home, upto=5, live=True, run_id="20260101-130000-demo-live")
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: home.query_one("#runs").row_count == 2, what="the runs listed")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Start run" in titles and "Stop run" in titles  # the live run is highlighted (newest)
        assert "Open preset: demo" in titles and "Help" in titles and "Keys" not in titles
        assert f"Attach run: {run_dir.name}" in titles and f"Attach run: {live.name}" in titles
        home.query_one("#runs").focus()
        await pilot.press("down")
        assert home._highlighted_run() == run_dir
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Stop run" not in titles, "a finished run has nothing to stop"
        assert home.check_action("stop", ()) is None  # shown dimmed in the footer, does nothing
        app.open_results(run_dir)
        await pilot.pause()
        assert "Export results" in [command.title for command in app.get_system_commands(app.screen)]


async def test_a_failing_follower_is_a_notification_and_the_app_goes_on(fttui_home: Path, monkeypatch):
    run_dir = replay_run(fttui_home)

    def unreadable(path, offset):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("tui.screens.run.read_events_from", unreadable)
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(run_dir)
        await wait_for(
            pilot, lambda: any("Following the run failed" in n for n in seen), what="the notification"
        )
        assert any("Permission denied" in n for n in seen)
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)


async def test_a_nan_loss_is_shown_as_a_warning_and_does_not_break_the_charts(fttui_home: Path):
    run_dir = replay_run(fttui_home, upto=40, live=True)
    now = time.time()
    nan_loss = {"event": "step_loss", "schema": 1, "time": now, "step": 30, "epoch": 1.6, "loss": "nan"}
    warning = {"event": "warning", "schema": 1, "time": now, "category": "nan_loss", "step": 30}
    warning["message"] = "training loss is nan at step 30"
    with (run_dir / "events.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(nan_loss) + "\n" + json.dumps(warning) + "\n")
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        await wait_for(
            pilot, lambda: any(w.category == "nan_loss" for w in screen.history.warnings), what="NaN"
        )
        await pilot.pause(0.3)
        panel = screen.query_one(WarningsPanel)
        assert "training loss is nan at step 30" in str(panel.content)
        assert panel.border_title == "Warnings (2)"
        sparkline = screen.query_one("#loss-sparkline")
        assert all(v == v for v in sparkline.values), "NaN stays out of the sparkline"
        assert str(sparkline.query_one(".latest").content) == "nan"


async def test_gpu_memory_per_device_as_sparklines_and_a_table(fttui_home: Path):
    """No GPU on the test machine: synthetic samples from two devices stand in for a real run."""
    run_dir = replay_run(fttui_home, upto=30, live=True)
    gib = 1024**3
    with (run_dir / "events.jsonl").open("a", encoding="utf-8") as log:
        for step, used in ((10, 2), (20, 5), (30, 3)):
            devices = [
                {"index": i, "name": "NVIDIA H100", "allocated": used * gib * (i + 1), "reserved": 8 * gib}
                | {"peak": 6 * gib * (i + 1), "total": 80 * gib, "used": None, "host": "gpu-box"}
                for i in range(2)
            ]
            log.write(
                json.dumps(
                    {
                        "event": "gpu_memory",
                        "schema": 1,
                        "time": time.time(),
                        "step": step,
                        "devices": devices,
                    }
                )
                + "\n"
            )
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        panel = screen.query_one(GpuMemoryPanel)
        await wait_for(pilot, lambda: len(panel.view.latest) == 2, what="two devices")
        await pilot.pause(0.2)
        assert "2 device(s)" in label_text(panel, "#gpu-note")
        sparklines = panel.query("SparklinePanel")
        assert [s.caption for s in sparklines] == ["gpu 0", "gpu 1"]
        assert list(sparklines.first().values) == [2 * gib, 5 * gib, 3 * gib]
        table = plain(panel.query_one("#gpu-table").content)
        for expected in (
            "allocated",
            "reserved",
            "peak",
            "total",
            "NVIDIA H100",
            "3.0 GiB",
            "12.0 GiB",
            "80.0 GiB",
        ):
            assert expected in table


async def test_export_asks_before_overwriting_and_names_the_file_it_could_not_write(
    fttui_home: Path, tmp_path: Path
):
    from textual.widgets import Input

    from tui.screens.export import ExportScreen

    run_dir = replay_run(fttui_home)
    existing = tmp_path / "kept.toml"
    existing.write_text("# mine\n", encoding="utf-8")
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_results(run_dir)
        await pilot.pause()
        await pilot.press("e")
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        await pilot.press("ctrl+u", *str(existing), "enter")
        assert app.screen is dialog, "an existing file is not overwritten at the first enter"
        assert "exists: enter again to overwrite it" in label_text(dialog, "#export-error")
        assert existing.read_text(encoding="utf-8") == "# mine\n"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="the dialog to close")
        assert "[results]" in existing.read_text(encoding="utf-8")

        await pilot.press("e")
        dialog = app.screen
        blocked = tmp_path / "afile" / "out.toml"
        (tmp_path / "afile").write_text("", encoding="utf-8")
        dialog.query_one(Input).value = str(blocked)
        await pilot.press("enter")
        assert app.screen is dialog
        shown = label_text(dialog, "#export-error")
        assert shown.startswith(f"cannot write {blocked}: ") and ".tmp" not in shown and "._" not in shown


async def test_the_palette_screenshot_lands_in_fttuis_own_folder(fttui_home: Path):
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        app.action_screenshot()
        folder = fttui_home / "screenshots"
        # Textual's delivery thread reports back when the file is complete: wait for that, not
        # just for the file, or the thread outlives the app.
        await wait_for(pilot, lambda: any(n.startswith("Screenshot: Saved") for n in seen), what="the save")
    assert any(str(folder) in n for n in seen)
    assert "fttui" in next(folder.glob("*.svg")).read_text(encoding="utf-8")


async def test_the_quit_question_keeps_the_runs_steps_current(fttui_home: Path):
    run_dir = replay_run(fttui_home, upto=40, live=True)
    events = recorded_events()
    app = FineTuneApp(attach=run_dir)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        dialog = app.screen
        assert isinstance(dialog, QuitScreen)
        before = label_text(dialog, "#quit-runs")
        later = as_run(events, run_dir, live=True)[40:60]
        with (run_dir / "events.jsonl").open("a", encoding="utf-8") as log:
            log.write("".join(line + "\n" for line in later))
        await wait_for(pilot, lambda: label_text(dialog, "#quit-runs") != before, what="the step to move on")
        assert "step" in label_text(dialog, "#quit-runs")
        await pilot.press("escape")
