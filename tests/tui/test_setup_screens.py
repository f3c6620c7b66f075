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

        # Saving again under a taken name, or a built-in's, asks first: enter again to go ahead.
        await pilot.press("ctrl+s")
        saved.write_text('description = "hand-written"\nextends = "demo"\n', encoding="utf-8")
        await pilot.press("ctrl+u", *"my-demo", "enter")
        assert isinstance(app.screen, SavePresetScreen)
        assert "my-demo.toml exists: enter again to replace it" in str(
            app.screen.query_one("#save-error").content
        )
        assert "hand-written" in saved.read_text()
        await pilot.press("ctrl+u", *"demo-x", "ctrl+u", *"glue-mrpc", "enter")
        assert "'glue-mrpc' is a built-in preset" in str(app.screen.query_one("#save-error").content)
        await pilot.press("ctrl+u", *"my-demo", "enter")  # a different name asked about: asks again
        assert isinstance(app.screen, SavePresetScreen)
        await pilot.press("enter")
        assert "hand-written" not in saved.read_text()
        assert not (Path(os.environ["FTTUI_HOME"]) / "presets" / "glue-mrpc.toml").exists()

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
        # The column pickers still say what the preset uses, not blank placeholders.
        picked = [screen.query_one(f"#{name}", Select).value for name in ("text1", "text2", "label")]
        assert picked == ["sentence1", "sentence2", "label"]
        assert screen.setup.edits == {}
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
        # The footer fits: its last key, help, is on screen.
        help_key = [key for key in footer.query("FooterKey") if key.action == "help"]
        assert help_key and help_key[0].region.right <= 80 - len("^p palette")


# -- values typed but not applied, leaving with edits, the value box, checks before a start ---------

EXAMPLES = Path(__file__).resolve().parents[2] / "presets" / "examples"


def stub_start(app: FineTuneApp) -> list[dict]:
    """Replace starting a process with a record of the edits it would have run with."""
    started: list[dict] = []
    app.start_run = lambda setup: started.append(dict(setup.edits))
    return started


async def test_typed_values_apply_on_leaving_a_field_and_before_start_save_or_step(home_with_demo: Path):
    app = FineTuneApp()
    started = stub_start(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter")
        dataset = app.screen
        await wait_for(pilot, lambda: dataset.setup.preview is not None, timeout=60, what="the preview")

        # Typed, then tab: applied, and the token lengths are measured again for it.
        await tab_to(pilot, "max_length")
        await pilot.press("ctrl+u", *"32", "tab")
        assert dataset.setup.edits == {"dataset.max_length": 32}
        await wait_for(
            pilot, lambda: not dataset.query_one("#token-stats").loading, timeout=60, what="tokens"
        )
        await wait_for(
            pilot, lambda: "32" in str(dataset.query_one("#token-stats").content.columns[1]._cells), what="32"
        )

        # Typed, then ctrl+r at once: the run gets the typed value, not the old one.
        await tab_to(pilot, "max_train_samples")
        await pilot.press(*"200", "ctrl+r")
        assert started == [{"dataset.max_length": 32, "dataset.max_train_samples": 200}]

        # A bad typed value stops the start, the save and the step change, and says why.
        await tab_to(pilot, "max_eval_samples")
        await pilot.press("0", "ctrl+r", "ctrl+s", "f3")
        assert len(started) == 1 and isinstance(app.screen, DatasetScreen)
        assert app.focused is dataset.query_one("#max_eval_samples")
        assert "positive" in text_of(dataset, "#setup-error")
        assert "dataset.max_eval_samples" not in dataset.setup.edits

        # Fixed and F3 straight away: applied before the step changes.
        await pilot.press("backspace", *"50", "f3")
        assert isinstance(app.screen, ModelScreen)
        assert app.screen.setup.edits["dataset.max_eval_samples"] == 50

        # The arguments editor and the processes field: typed, then ctrl+r.
        await pilot.press("f4")
        arguments = app.screen
        await wait_for(pilot, lambda: arguments.fields is not None, timeout=60, what="TrainingArguments")
        await pilot.press("enter", "ctrl+u", "2")
        await pilot.press("ctrl+r")
        assert started[-1]["training.num_train_epochs"] == 2
        await pilot.press("enter", "ctrl+u", *"many", "ctrl+s")
        assert not isinstance(app.screen, SavePresetScreen), "a bad pending value must not be saved"
        assert "expected" in text_of(arguments, "#setup-error")
        await pilot.press("escape")
        assert arguments.query_one("#field-value", Input).value == "2", "escape undoes the typing"


async def test_leaving_setup_with_unsaved_edits_asks_first(home_with_demo: Path):
    from tui.screens.confirm import ConfirmScreen

    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter")
        dataset = app.screen
        await tab_to(pilot, "max_length")
        await pilot.press("ctrl+u", *"32", "enter")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Discard 1 unsaved edit to demo?" in str(app.screen.query_one(".dialog-title").content)
        await pilot.press("escape")  # keep editing
        await pilot.pause()
        assert app.screen is dataset and dataset.setup.edits == {"dataset.max_length": 32}

        # Saved as a preset: nothing is lost by leaving, so no question.
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+u", *"mine", "enter")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)

        async def open_demo_with_max_length(text: str):
            await pilot.press("enter")
            screen = app.screen
            screen.query_one("#max_length", Input).focus()
            await pilot.press("ctrl+u", *text, "enter")
            await pilot.pause()
            return screen

        # Unsaved again: escape, then enter on "Discard" goes home.
        await open_demo_with_max_length("16")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)

        # The palette's ways out ask the same question, then go where they were asked to.
        dataset = await open_demo_with_max_length("24")
        commands = {c.title: c for c in app.get_system_commands(dataset)}
        commands["Open preset: local-csv"].callback()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.setup.preset_name == "local-csv" and not app.screen.setup.edits


async def test_value_box_shows_the_highlighted_fields_value(home_with_demo: Path):
    app = FineTuneApp()
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter", "f4")
        arguments = app.screen
        await wait_for(pilot, lambda: arguments.fields is not None, timeout=60, what="TrainingArguments")
        box = arguments.query_one("#field-value", Input)
        assert arguments.highlighted() == "num_train_epochs" and box.value == "4"

        await pilot.press("slash", *"eval_strategy", "enter", "enter", "ctrl+u", *"steps", "enter")
        assert arguments.setup.edits["training.eval_strategy"] == "steps"
        assert box.value == "steps"
        await pilot.press("slash", "ctrl+u", *"learning_rate", "enter")
        assert arguments.highlighted() == "learning_rate" and box.value == "0.001"

        # A rejected value, then escape: the box shows the value in force again, the error goes.
        await pilot.press("enter", "ctrl+u", *"fast", "enter")
        assert box.value == "fast" and "expected a number" in text_of(arguments, "#setup-error")
        await pilot.press("escape")
        assert box.value == "0.001" and not text_of(arguments, "#setup-error")

        # A rejected value left by tab, then another row: its value, and no stale error.
        await pilot.press("enter", "ctrl+u", *"fast", "tab")
        assert "expected a number" in text_of(arguments, "#setup-error")
        await pilot.press("escape", "slash", "ctrl+u", "enter")  # the search cleared: every field again
        assert arguments.highlighted() == "learning_rate" and box.value == "0.001"
        await pilot.press("down")
        assert arguments.highlighted() == "per_device_train_batch_size"
        assert box.value == "32" and not box.has_class("-invalid")
        assert not text_of(arguments, "#setup-error")
        assert "training.learning_rate" not in arguments.setup.edits


async def test_bf16_on_a_machine_without_a_gpu_is_refused_as_typed_and_at_start(
    home_with_demo: Path, monkeypatch
):
    from engine import gpu

    monkeypatch.setattr(gpu, "cuda_available", lambda: False)
    monkeypatch.setattr(gpu, "bf16_supported", lambda: False)
    app = FineTuneApp()
    started = stub_start(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter", "f4")
        arguments = app.screen
        await wait_for(pilot, lambda: arguments.fields is not None, timeout=60, what="TrainingArguments")
        await wait_for(pilot, lambda: arguments.setup.device is not None, what="the GPU probe")
        await pilot.press("slash", *"bf16", "enter", "enter", "ctrl+u", *"true")
        message = "[training] bf16: true needs a GPU with bfloat16 (no GPU was found)"
        assert message in text_of(arguments, "#setup-error")
        await pilot.press("enter")
        assert "training.bf16" not in arguments.setup.edits
        await pilot.press("ctrl+r")
        assert started == []

    # A preset (or an edit made before the probe answered) with bf16 is stopped before the start.
    app = FineTuneApp()
    started = stub_start(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("enter", "f4")
        arguments = app.screen
        arguments.setup.edits["training.bf16"] = True
        await wait_for(pilot, lambda: arguments.setup.device is not None, what="the GPU probe")
        await pilot.press("ctrl+r")
        assert started == []
        assert message in text_of(arguments, "#setup-error")


async def test_eval_fraction_gives_a_single_file_an_evaluation_split(home_with_demo: Path):
    app = FineTuneApp()
    started = stub_start(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("down", "down", "down", "enter")
        dataset = app.screen
        assert dataset.setup.preset_name == "local-csv"
        single = str(EXAMPLES / "tickets-train.csv")
        await tab_to(pilot, "files")
        await pilot.press("ctrl+u", *single, "enter")
        assert "a single file has one split; use eval_fraction" in text_of(dataset, "#setup-error")
        assert "dataset.files" not in dataset.setup.edits

        await tab_to(pilot, "eval_fraction")
        await pilot.press(*"1.5")
        assert "between 0 and 1" in text_of(dataset, "#setup-error")
        await pilot.press("backspace", "backspace", "backspace", *"0.2", "ctrl+r")
        assert started == [{"dataset.eval_fraction": 0.2, "dataset.eval_split": "", "dataset.files": single}]
        assert dataset.query_one("#eval_split", Input).value == ""
        assert dataset.query_one("#files", Input).value == single


async def test_label_that_is_also_a_text_column_is_refused_and_an_id_column_warned_of(home_with_demo: Path):
    app = FineTuneApp()
    seen = record_notifications(app)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("down", "down", "down", "enter")
        dataset = app.screen
        await wait_for(pilot, lambda: dataset.setup.preview is not None, timeout=60, what="the preview")

        dataset.query_one("#label", Select).value = "ticket_id"
        await wait_for(
            pilot, lambda: dataset.setup.preview.label_column == "ticket_id", timeout=60, what="the preview"
        )
        warning = "ticket_id has 480 distinct values in 480 rows: it looks like an id, not a label"
        assert warning in text_of(dataset, "#dataset-warning")
        assert any(warning in n for n in seen)

        # The label as a text column too: refused (the model would read the answer), the list shows what holds.
        dataset.query_one("#label", Select).value = "message"
        await wait_for(pilot, lambda: any(n.startswith("Not applied") for n in seen), what="the refusal")
        assert "'message' is also the label column" in text_of(dataset, "#setup-error")
        assert dataset.setup.edits == {"dataset.label_column": "ticket_id"}
        await pilot.pause()
        assert dataset.query_one("#label", Select).value == "ticket_id"

        dataset.query_one("#label", Select).value = "team"
        await wait_for(
            pilot, lambda: dataset.setup.preview.label_column == "team", timeout=60, what="preview"
        )
        assert not text_of(dataset, "#setup-error") and not text_of(dataset, "#dataset-warning")
        assert dataset.setup.edits == {}, "back to the preset's own column: no edit left"


async def test_preview_shows_short_columns_whole_at_80_columns(home_with_demo: Path):
    app = FineTuneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "down", "down", "enter")
        dataset = app.screen
        await wait_for(pilot, lambda: dataset.setup.preview is not None, timeout=60, what="the preview")
        table = dataset.query_one("#preview-rows", DataTable)
        assert [str(table.get_cell_at((0, c))) for c in (0, 2)] == ["T00001", "technical"]
        assert str(table.get_cell_at((0, 1))).endswith("…")
        assert sum(column.get_render_width(table) for column in table.columns.values()) <= table.size.width


def test_fit_widths_keeps_short_columns_whole():
    from tui.screens.dataset import fit_widths

    assert fit_widths({"id": 6, "text": 200, "label": 9}, 60) == {"id": 6, "text": 45, "label": 9}
    assert fit_widths({"a": 10, "b": 10}, 40) == {"a": 10, "b": 10}
    assert fit_widths({"a": 50, "b": 50}, 40) == {"a": 20, "b": 20}


async def test_model_screen_checks_hub_ids_shows_errors_once_and_says_trust_in_words(home_with_demo: Path):
    from textual.widgets import Switch

    app = FineTuneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "f3")
        model = app.screen
        await pilot.pause(0.3)
        assert app.focused is model.query_one("#cached-models")
        assert text_of(model, "#trust-state") == "off"

        await tab_to(pilot, "checkpoint")
        await pilot.press("ctrl+u", *"my org/bad id!")
        assert "neither a folder nor a hub id" in text_of(model, "#checkpoint-info")
        await pilot.press("enter")
        assert "model.checkpoint" not in model.setup.edits

        await pilot.press("ctrl+u", *"/tmp/nomodel", "enter")
        assert "no such folder: /tmp/nomodel" in text_of(model, "#checkpoint-info")
        assert "no such folder" not in text_of(model, "#setup-error"), "said once, under the field"
        await pilot.press("escape")
        assert model.query_one("#checkpoint", Input).value == "demo:tiny-bert"

        await tab_to(pilot, "trust_remote_code")
        await pilot.press("space")
        assert model.query_one("#trust_remote_code", Switch).value
        assert text_of(model, "#trust-state").startswith("ON")
        assert model.setup.edits == {"model.trust_remote_code": True}


def test_an_edit_back_to_the_presets_value_is_no_edit(fttui_home: Path):
    from tui.run_setup import RunSetup

    setup = RunSetup.for_preset("demo")
    assert setup.try_edits({"dataset.max_length": 64}) is None and setup.edits == {}
    setup.try_edits({"dataset.max_length": 32, "training.learning_rate": 2e-5})
    setup.try_edits({"dataset.max_length": 64})
    assert setup.edits == {"training.learning_rate": 2e-5}
    assert "max_length" not in setup.command()
    assert setup.unsaved
    setup.try_edits({"training.learning_rate": 1e-3})
    assert not setup.unsaved
