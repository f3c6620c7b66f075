"""Fixtures for the app's tests: a private FTTUI_HOME, a recorded demo run to replay, and waiting helpers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED_RUN = FIXTURES / "demo-run"
RUN_ID = "20260101-120000-demo-0001"


@pytest.fixture
def fttui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FTTUI_HOME (runs, user presets, demo assets) and a fixed time zone."""
    home = tmp_path / "fttui-home"
    home.mkdir()
    monkeypatch.setenv("FTTUI_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return home


def recorded_events() -> list[dict]:
    """The recorded demo run (2 epochs, evaluations, predictions, a load-report warning), one dict per event."""
    lines = (RECORDED_RUN / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def as_run(events: list[dict], run_dir: Path, *, live: bool) -> list[str]:
    """The recorded events re-addressed to ``run_dir``.

    ``live``: the run looks like it is still going on this machine right now (this
    process's pid, this host, the last event just written), so its status is "running".
    """
    shift = time.time() - events[-1]["time"] if live and events else 0.0
    out = []
    for event in events:
        event = dict(event, time=event["time"] + shift)
        if event["event"] == "run_started":
            event.update(run_id=run_dir.name, output_dir=str(run_dir))
            if live:
                event.update(pid=os.getpid(), host=socket.gethostname())
        out.append(json.dumps(event))
    return out


def replay_run(home: Path, *, upto: int | None = None, live: bool = False, run_id: str = RUN_ID) -> Path:
    """Write the recorded run (or its first ``upto`` events) into a run folder under ``home``."""
    run_dir = home / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    events = recorded_events()
    events = events if upto is None else events[:upto]
    (run_dir / "events.jsonl").write_text(
        "\n".join(as_run(events, run_dir, live=live)) + "\n", encoding="utf-8"
    )
    if upto is None:
        shutil.copy(RECORDED_RUN / "results.toml", run_dir / "results.toml")
    return run_dir


def index_of(events: list[dict], predicate: Callable[[dict], bool]) -> int:
    return next(i for i, e in enumerate(events) if predicate(e))


async def wait_for(
    pilot, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.1)


def record_notifications(app) -> list[str]:
    """Every notification the app shows from now on, as "title: message" (toasts expire; this list does not)."""
    seen: list[str] = []
    notify = app.notify

    def recording(message: str, **kwargs) -> None:
        seen.append(f"{kwargs.get('title', '')}: {message}")
        notify(message, **kwargs)

    app.notify = recording
    return seen


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's tiny BERT and reviews, built once per test session (a few seconds)."""
    from engine.demo import ensure_assets

    return ensure_assets(tmp_path_factory.mktemp("demo-assets") / "demo")


@pytest.fixture
def home_with_demo(fttui_home: Path, demo_assets: Path) -> Path:
    (fttui_home / "demo").symlink_to(demo_assets, target_is_directory=True)
    return fttui_home


FAKE_REPO = "acme/tiny-sentiment"
FAKE_CACHE_TIME = 1767268800  # 2026-01-01 12:00 UTC


def fake_hf_cache(cache: Path, repo_id: str = FAKE_REPO) -> Path:
    """A Hugging Face cache holding one model repository, laid out as huggingface_hub lays it out."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    blob = repo / "blobs" / "b1946ac92492d2347c6235b4d2611184"
    blob.parent.mkdir(parents=True)
    blob.write_text('{"model_type": "bert"}\n' + " " * 4000)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to(Path("../../blobs") / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for path in (blob, snapshot / "config.json"):
        os.utime(path, (FAKE_CACHE_TIME, FAKE_CACHE_TIME), follow_symlinks=False)
    return cache
