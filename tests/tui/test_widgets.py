"""Pieces of the app that need no running app: the braille loss chart, the setup model, checkpoint descriptions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.style import Style

from engine.history import RunHistory
from tests.tui.conftest import RECORDED_RUN
from tui.run_setup import RunSetup, parse_value, toml_value
from tui.screens.model import describe_checkpoint
from tui.widgets.gpu_memory import MemoryView
from tui.widgets.loss_chart import BRAILLE_BASE, plot_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STYLES = {name: Style() for name in ("train", "eval", "axis", "epoch")}


def test_loss_chart_fills_its_area_with_axes_epochs_and_both_series():
    train = [(float(s), 1.0 - s / 100) for s in range(0, 100, 5)]
    evals = [(50.0, 0.6), (100.0, 0.4)]
    lines = plot_lines(train, evals, [50.0], 100.0, width=40, height=10, styles=STYLES)
    assert len(lines) == 10
    assert all(line.cell_len == 40 for line in lines)
    text = "\n".join(line.plain for line in lines)
    assert any(BRAILLE_BASE < ord(ch) <= BRAILLE_BASE + 0xFF for ch in text)
    assert lines[0].plain.split("┤")[0].strip() == "1"
    assert "┴" in lines[-2].plain and "ep1" in lines[-1].plain and "100 steps" in lines[-1].plain
    # The validation points are drawn in their own style over the train line.
    eval_style = Style(bold=True)
    styled = plot_lines(train, evals, [50.0], 100.0, 40, 10, {**STYLES, "eval": eval_style})
    assert any(span.style == eval_style for line in styled for span in line.spans)


def test_a_long_run_marks_every_nth_epoch_under_its_true_number():
    # 40 epochs of 188 steps on a 72-column plot: one guide per epoch would be a wall of lines.
    steps = [188.0 * k for k in range(1, 40)]
    lines = plot_lines([(1.0, 0.7), (7520.0, 0.01)], [], steps, 7520.0, width=80, height=10, styles=STYLES)
    axis, labels = lines[-2].plain, lines[-1].plain.split()
    guides = axis.count("┴")
    assert 2 <= guides <= 80 // 6
    tags = [int(t.removeprefix("ep")) for t in labels if t.startswith("ep")]
    assert tags and all(n % 5 == 0 for n in tags), tags  # every 5th epoch, numbered as such
    assert tags == sorted(tags) and tags[-1] >= 30
    # The guide under "epN" sits where epoch N ends on the step axis.
    label_line = lines[-1].plain
    first = f"ep{tags[0]}"
    centre = label_line.index(first) + len(first) // 2
    expected = round(188.0 * tags[0] / 7520.0 * ((80 - 5 - 1) * 2 - 1)) // 2 + 5
    assert abs(centre - expected) <= 2
    # A short run keeps one guide per epoch.
    short = plot_lines([(1.0, 0.7), (400.0, 0.1)], [], [100.0, 200.0, 300.0], 400.0, 80, 10, STYLES)
    assert short[-2].plain.count("┴") == 3 and "ep2" in short[-1].plain


def test_loss_chart_survives_nan_flat_and_empty_data():
    assert "waiting" in "".join(line.plain for line in plot_lines([], [], [], 0, 30, 6, STYLES))
    flat = plot_lines([(1.0, 0.5), (2.0, 0.5)], [], [], 2, 30, 6, STYLES)
    assert len(flat) == 6
    with_nan = plot_lines([(1.0, float("nan")), (2.0, 0.3), (3.0, 0.2)], [], [], 3, 30, 6, STYLES)
    assert all(line.cell_len == 30 for line in with_nan)
    assert all(line.plain.strip() == "" for line in plot_lines([(1.0, 1.0)], [], [], 1, 10, 3, STYLES))


def test_memory_view_says_no_gpu_for_a_cpu_run():
    history = RunHistory.from_log(RECORDED_RUN / "events.jsonl")
    view = MemoryView.from_history(history)
    assert view.sampled and not view.latest and not view.series


@pytest.mark.parametrize(
    "value, text",
    [
        (1, "1"),
        (2e-05, "2e-05"),
        (True, "true"),
        ("epoch", '"epoch"'),
        (["a", "b"], '["a", "b"]'),
        ({"train": "a.csv", "validation": "b.csv"}, '{ train = "a.csv", validation = "b.csv" }'),
    ],
)
def test_values_travel_to_the_engine_as_toml(value, text):
    assert toml_value(value) == text
    assert parse_value(text) == value


def test_setup_edits_resolve_show_provenance_and_the_equivalent_command(fttui_home: Path):
    setup = RunSetup.for_preset("demo")
    assert setup.try_edits({"training.num_train_epochs": 1, "dataset.max_train_samples": 200}) is None
    preset = setup.resolve()
    assert preset.training["num_train_epochs"] == 1
    assert setup.source_of(preset, "training.num_train_epochs") == "screen edit"
    assert setup.source_of(preset, "training.learning_rate") == "demo (built-in preset)"
    assert setup.command() == (
        "fttui run demo --set training.num_train_epochs=1 --set dataset.max_train_samples=200"
    )
    problem = setup.try_edits({"dataset.max_train_samples": "many"})
    assert problem and "max_train_samples" in problem and "expected an integer" in problem
    assert setup.edits["dataset.max_train_samples"] == 200


def test_setup_saves_a_user_preset_that_extends_its_base(fttui_home: Path):
    setup = RunSetup.for_preset("demo")
    setup.try_edits({"training.num_train_epochs": 1, "dataset.max_length": 32})
    path = setup.save_as("my-demo")
    assert path == fttui_home / "presets" / "my-demo.toml"
    data = tomllib.loads(path.read_text())
    assert data["extends"] == "demo"
    assert data["training"] == {"num_train_epochs": 1}
    assert data["dataset"] == {"max_length": 32}
    assert RunSetup.for_preset("my-demo").resolve().training["num_train_epochs"] == 1
    with pytest.raises(ValueError, match="extend itself"):
        setup.save_as("demo")
    with pytest.raises(ValueError, match="letters, digits"):
        setup.save_as("my demo/1")


def test_checkpoint_descriptions(tmp_path: Path):
    model = tmp_path / "model"
    model.mkdir()
    assert describe_checkpoint("demo:tiny-bert", [])[1] == "demo"
    assert describe_checkpoint(str(model), [])[1] == "error"
    (model / "config.json").write_text("{}")
    assert describe_checkpoint(str(model), [])[1] == "local"
    assert describe_checkpoint(str(tmp_path / "missing"), [])[1] == "error"
    assert describe_checkpoint("bert-base-uncased", [])[1] == "hub"
    assert describe_checkpoint("", [])[1] == "error"


def test_preset_detail_shows_the_whole_description_and_what_a_broken_preset_gets_wrong(fttui_home: Path):
    from engine import config as cfg
    from tui.screens.home import preset_detail

    demo = preset_detail("demo", cfg.builtin_presets()["demo"]).plain
    assert cfg.describe(cfg.builtin_presets()["demo"]) in demo
    assert "model demo:tiny-bert" in demo and "(text → label)" in demo and "4 epochs" in demo
    mrpc = preset_detail("glue-mrpc", cfg.builtin_presets()["glue-mrpc"]).plain
    assert "data glue/mrpc (sentence1 + sentence2 → label)" in mrpc

    broken = fttui_home / "broken.toml"
    broken.write_text('extends = "demo"\n[dataset]\nlabel_colum = "stars"\n', encoding="utf-8")
    shown = preset_detail("broken", broken, error_style="bold")
    assert "[dataset] label_colum: unknown key; did you mean 'label_column'?" in shown.plain
    assert str(broken.name) in shown.plain and shown.spans[-1].style == "bold"
