"""The engine never imports Textual; the app imports no torch/transformers before its first paint."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "datasets", "evaluate")


def run_python(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_engine_never_imports_textual():
    found = pkgutil.walk_packages(engine.__path__, prefix="engine.")
    modules = sorted(m.name for m in found if not m.name.rsplit(".", 1)[-1].startswith("_"))
    assert "engine.runner" in modules and "engine.cli" in modules and "engine.preview" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({'textual': sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))}))"
    )
    assert run_python(code) == {"textual": []}


def test_app_import_and_construction_load_no_heavy_library():
    code = (
        "import json, sys\n"
        "import tui.app\n"
        "app = tui.app.FineTuneApp()\n"
        "from tui.screens import arguments, dataset, help, home, model, results, run\n"
        f"print(json.dumps({{'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))"
    )
    assert run_python(code) == {"heavy": []}


def test_help_text_answers_without_the_app():
    result = subprocess.run(
        [sys.executable, "-c", "from tui.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0
    assert "attach" in result.stdout and "runs" in result.stdout
