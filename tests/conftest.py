"""Shared fixtures: every test gets its own FTTUI_HOME and an offline Hugging Face stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


@pytest.fixture(autouse=True)
def fttui_home(tmp_path_factory, monkeypatch) -> Path:
    """A private data/config root, so tests never see (or write) a user's runs and presets."""
    home = tmp_path_factory.mktemp("fttui-home")
    monkeypatch.setenv("FTTUI_HOME", str(home))
    for var, value in OFFLINE.items():
        monkeypatch.setenv(var, value)
    return home


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The demo's tiny BERT and generated data, built once per session."""
    from engine import demo

    return demo.ensure_assets(tmp_path_factory.mktemp("demo-assets"))


@pytest.fixture
def demo_home(fttui_home: Path, demo_root: Path) -> Path:
    """An FTTUI_HOME whose demo folder is the session's prebuilt one (no rebuild per test)."""
    link = fttui_home / "demo"
    if not link.exists():
        link.symlink_to(demo_root, target_is_directory=True)
    return fttui_home


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None):
    """`python -m engine ...` in a fresh process, as a user would run fttui."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or REPO,
    )
