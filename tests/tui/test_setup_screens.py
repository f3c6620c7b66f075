"""Preset setup by keyboard: dataset, model and arguments screens, validation, saving, and errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from tests.tui.conftest import FAKE_REPO, fake_hf_cache, record_notifications, wait_for
from tui.app import FineTuneApp
from tui.screens.arguments import ArgumentsScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.screens.model import ModelScreen
from tui.screens.save_preset import SavePresetScreen

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


async def tab_to(pilot, widget_id: str, limit: int = 30) -> None:
    """Press tab until the widget with ``widget_id`` has focus, as a user would."""
    for _ in range(limit):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id}")


def text_of(screen, selector: str) -> str:
    widget = screen.query_one(selector)
    return str(getattr(widget, "content", ""))


async def test_setup_by_keyboard_records_edits_validates_and_saves_a_preset(home_with_demo: Path):
    fake_hf_cache(Path(os.environ["HF_HUB_CACHE"]))
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter")
        dataset = app.screen
        assert isinstance(dataset, DatasetScreen)
        await wait_for(
            pilot, lambda: dataset.setup.preview is not None, timeout=60, what="the dataset preview"
        )
        assert dataset.query_one("#text1", Select).value == "text"
        assert dataset.query_one("#label", Select).value == "label"
        assert dataset.query_one("#preview-rows", DataTable).row_count == 8
        assert "negative" in str(dataset.query_one("#label-distribution").content.columns[0]._cells)
        await wait_for(
            pilot, lambda: not dataset.query_one("#token-stats").loading, timeout=60, what="token lengths"
        )

        await tab_to(pilot, "max_train_samples")
        await pilot.press("x", "0")
        assert dataset.query_one("#max_train_samples", Input).value == "0", (
            "an integer field takes digits only"
        )
        assert dataset.query_one("#max_train_samples", Input).has_class("-invalid")
        assert "positive" in text_of(dataset, "#setup-error")
        await pilot.press("backspace", *"200", "enter")
        assert dataset.setup.edits == {"dataset.max_train_samples": 200}

        await pilot.press("ctrl+n")
        model = app.screen
        assert isinstance(model, ModelScreen)
        await wait_for(pilot, lambda: model.cached, what="the cached checkpoints")
        assert "2 (negative, positive)" in text_of(model, "#labels-info")
        await pilot.press("enter")
        assert model.setup.edits["model.checkpoint"] == FAKE_REPO
        assert "already in your Hugging Face cache" in text_of(model, "#checkpoint-info")

        await pilot.press("ctrl+n")
        arguments = app.screen
        assert isinstance(arguments, ArgumentsScreen)
        await wait_for(
            pilot, lambda: arguments.fields is not None, timeout=60, what="TrainingArguments fields"
        )
        await pilot.press("slash", *"learning_rate", "enter")
        assert arguments.highlighted() == "learning_rate"
        await pilot.press("enter", "ctrl+u", *"fast", "enter")
        assert "expected a number" in text_of(arguments, "#setup-error")
        assert any(n.startswith("Not applied") for n in seen)
        assert "training.learning_rate" not in arguments.setup.edits
        await pilot.press("ctrl+u", *"2e-5", "enter")
        assert arguments.setup.edits["training.learning_rate"] == 2e-5
        table = arguments.query_one("#fields", DataTable)
        assert str(table.get_cell("learning_rate", "from")) == "screen edit"
        assert "--set training.learning_rate=2e-05" in text_of(arguments, "#command-preview")

        # A rule across fields: the best model at the end needs save and eval strategies to match.
        await pilot.press("ctrl+u")
        await pilot.press("slash", *"load_best", "enter", "enter", "ctrl+u", *"true", "enter")
        assert arguments.setup.edits["training.load_best_model_at_end"] is True
        await pilot.press("slash", "ctrl+u", *"save_strategy", "enter", "enter", "ctrl+u", *"steps", "enter")
        assert "training.save_strategy" not in arguments.setup.edits
        assert "load_best_model_at_end" in text_of(arguments, "#setup-error")

        await pilot.press("escape", "ctrl+s")
        assert isinstance(app.screen, SavePresetScreen)
        await pilot.press("ctrl+u", *"my-demo", "enter")
        saved = Path(os.environ["FTTUI_HOME"]) / "presets" / "my-demo.toml"
        assert saved.exists()
        data = tomllib.loads(saved.read_text())
        assert data["extends"] == "demo"
        assert data["training"] == {"learning_rate": 2e-5, "load_best_model_at_end": True}
        assert data["dataset"] == {"max_train_samples": 200}

        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)
        presets = app.screen.query_one("#presets", DataTable)
        assert "user:my-demo" in [row.key.value for row in presets.ordered_rows]


async def test_unreachable_hub_dataset_is_a_notification_and_the_app_goes_on(fttui_home: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, DatasetScreen) and screen.setup.preset_name == "glue-mrpc"
        await wait_for(
            pilot, lambda: any("Dataset not loaded" in n for n in seen), timeout=60, what="the error"
        )
        assert "could not be reached" in text_of(screen, "#setup-error")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, HomeScreen)


@pytest.mark.parametrize("step", ["dataset", "model", "arguments"])
async def test_setup_screens_fit_80x24(home_with_demo: Path, step: str):
    app = FineTuneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        if step != "dataset":
            await pilot.press({"model": "f3", "arguments": "f4"}[step])
        await pilot.pause(0.5)
        screen = app.screen
        main = screen.query_one(
            {"dataset": "#preview-rows", "model": "#cached-models", "arguments": "#fields"}[step]
        )
        assert app.focused is main
        assert main.region.height >= 3 and main.region.right <= 80
        footer = screen.query_one("Footer")
        assert footer.region.y == 23
