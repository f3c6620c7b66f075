"""One snapshot per screen, from a fixed FTTUI_HOME holding the recorded demo run (update: --snapshot-update)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.tui.conftest import RUN_ID, fake_hf_cache, index_of, recorded_events, replay_run, wait_for
from tui.app import FineTuneApp

SIZE = (100, 32)
# Paths show on some screens, so the home folder has a fixed name.
SNAPSHOT_ROOT = Path("/tmp/fttui-snapshots")
LIVE_RUN_ID = "20260101-130000-demo-0002"


@pytest.fixture
def snapshot_home(demo_assets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.rmtree(SNAPSHOT_ROOT, ignore_errors=True)
    home = SNAPSHOT_ROOT / "home"
    home.mkdir(parents=True)
    (home / "demo").symlink_to(demo_assets, target_is_directory=True)
    replay_run(home)
    monkeypatch.setenv("FTTUI_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(fake_hf_cache(SNAPSHOT_ROOT / "hf-cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return home


def still(app) -> None:
    """No blinking cursors: a snapshot must not depend on when it was taken."""
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False


def test_home(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        runs = pilot.app.screen.query_one("#runs")
        await wait_for(pilot, lambda: runs.row_count == 1, what="the recorded run")
        still(pilot.app)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)


def test_dataset(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        await pilot.press("enter")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.setup.preview is not None, timeout=60, what="the preview")
        await wait_for(
            pilot, lambda: not screen.query_one("#token-stats").loading, timeout=60, what="token lengths"
        )
        still(pilot.app)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)


def test_model(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        await pilot.press("enter", "f3")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.cached, timeout=30, what="the cache listing")
        await wait_for(pilot, lambda: screen.setup.preview is not None, timeout=60, what="the labels")
        still(pilot.app)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)


def test_arguments(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        await pilot.press("enter", "f4")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.fields is not None, timeout=60, what="TrainingArguments")
        await pilot.press("enter", "ctrl+u", "1", "enter")
        still(pilot.app)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)


def test_run_live_view(snap_compare, snapshot_home: Path):
    events = recorded_events()
    midway = index_of(events, lambda e: e["event"] == "epoch_metrics") + 12
    run_dir = replay_run(snapshot_home, upto=midway, live=True, run_id=LIVE_RUN_ID)

    async def ready(pilot):
        await pilot.pause()
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.history.events_seen == midway, what="the replayed log")
        await pilot.pause(0.3)
        still(pilot.app)

    assert snap_compare(FineTuneApp(attach=run_dir), terminal_size=SIZE, run_before=ready)


def test_results(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        pilot.app.open_results(snapshot_home / "runs" / RUN_ID)
        await pilot.pause(0.3)
        still(pilot.app)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)


def test_help(snap_compare, snapshot_home: Path):
    async def ready(pilot):
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(FineTuneApp(), terminal_size=SIZE, run_before=ready)
