"""The headless console: user text shown as written, one error line per failure, readable figures."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len

from engine import console
from engine import events as ev

# Text a user or a data file can put in front of the console, which Rich markup would eat or choke on.
MARKUP = "[/b]"
ERROR = (
    "d/base.toml: [dataset] label_column: column '[/b]' not found in split 'train'; its columns are: [bold]x"
)


def render(*events: ev.Event) -> str:
    stream = io.StringIO()
    sink = console.ConsoleSink(stream, live=False)
    for event in events:
        sink(event)
    return stream.getvalue()


def started(**kw) -> ev.RunStarted:
    base = dict(
        run_id="r1",
        preset="demo",
        config={},
        provenance={},
        output_dir="/tmp/runs/r1",
        device="CPU",
        devices=[],
        pid=1,
        host="h",
    )
    base.update(kw)
    return ev.RunStarted(**base)


def test_user_text_is_never_read_as_markup():
    out = render(
        started(run_id="[red]r1", preset=MARKUP, output_dir="/tmp/[runs]/r1"),
        ev.Stage("loading dataset", detail="files [train]"),
        ev.DatasetReady(
            train_examples=1,
            eval_examples=0,
            task="classification",
            labels=["[neg]", MARKUP],
            text_columns=[MARKUP],
            eval_source="split '[v]'",
        ),
        ev.ModelLoaded(checkpoint="c", resolved_path="p", architecture="[Bert]", parameters=1, num_labels=2),
        ev.RunWarning(category="data", message=f"column {MARKUP} is [italic]empty"),
        ev.StopRequested(reason="[stop] file", step=3),
        ev.EpochMetrics(step=3, epoch=1.0, metrics={"[acc]": 0.5}),
        ev.RunFinished(
            status="failed",
            duration_seconds=1.0,
            error=ERROR,
            error_type="ValueError",
            results_path="/tmp/[runs]/r1/results.toml",
        ),
    )
    for text in (
        "Run [red]r1 · preset [/b] · CPU",
        "folder /tmp/[runs]/r1",
        "(files [train])",
        "labels: [neg], [/b]",
        "split '[v]'",
        "model: [Bert]",
        "warning (data): column [/b] is [italic]empty",
        "[stop] file",
        "[acc] 0.5000",
        "★ best [acc]",  # the summary table
        f"error: {ERROR}",
        "results: /tmp/[runs]/r1/results.toml",
    ):
        assert text in out, out


def test_bad_input_error_is_left_to_the_command_line():
    # The CLI prints bad input as its one "fttui: error:" line on stderr; the console must not repeat it.
    out = render(
        started(),
        ev.RunFinished(
            status="failed",
            duration_seconds=0.0,
            error=ERROR,
            error_type=ev.BAD_INPUT,
            results_path="/tmp/r1/results.toml",
        ),
    )
    assert "error" not in out
    assert "failed in 0s" in out and "results: /tmp/r1/results.toml" in out


def test_plan_shows_fractional_epochs():
    plan = ev.TrainingPlan(
        total_steps=60,
        num_epochs=60 / 188,
        train_examples=6000,
        global_batch_size=32,
        steps_per_epoch=188,
        precision="fp32",
    )
    assert "plan: 60 steps, 0.32 epochs, global batch 32, fp32" in render(plan)
    epochs = console.fmt_epochs
    assert (epochs(3.0), epochs(1.0), epochs(2.5)) == ("3 epochs", "1 epoch", "2.5 epochs")
    assert (console.fmt_number(0.001), console.fmt_number(10.0), console.fmt_number(-0.001)) == (
        "0",
        "10",
        "0",
    )


def progress_line(width: int, step: int = 290, total: int = 752, eta: float = 13.0) -> str:
    """The live progress line as a terminal ``width`` columns wide shows it."""
    from rich.console import Console

    term = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    sink = console.ConsoleSink(console=term)
    try:
        sink(
            ev.TrainingPlan(
                total_steps=total,
                num_epochs=4,
                train_examples=6000,
                global_batch_size=32,
                steps_per_epoch=188,
                precision="fp32",
            )
        )
        sink(ev.StepLoss(step=step, epoch=1.54, loss=0.3772))
        sink(
            ev.Progress(
                step=step,
                total_steps=total,
                epoch=1.54,
                samples_per_second=1089.8,
                eta_seconds=eta,
                elapsed_seconds=9.0,
            )
        )
        shown = Console(file=io.StringIO(), width=width, color_system=None)
        shown.print(sink.progress.get_renderable())
        return shown.file.getvalue()
    finally:
        sink._stop_bar()


@pytest.mark.parametrize("width", [60, 70, 80, 100, 140])
def test_live_progress_fits_the_terminal_with_bar_percentage_and_eta(width):
    out = progress_line(width)
    assert all(cell_len(line) <= width for line in out.splitlines()), out
    line = out.strip()
    assert line.startswith("training ━") and "39%" in line and "290/752" in line, out
    assert line.endswith("ETA 13s"), out
    # The only other time on the line says what it is; Rich's bare "0:00:09" read as a second ETA.
    assert not re.search(r"\d:\d\d:\d\d", line), out
    if width >= 80:
        assert "epoch 1.54 · loss 0.3772" in line, out
    if width >= 140:
        assert "1089.8 samples/s · elapsed 9s · ETA 13s" in line, out


def test_live_progress_fits_a_long_run_in_sixty_columns():
    out = progress_line(60, step=12345, total=100000, eta=3720.0)
    assert all(cell_len(line) <= 60 for line in out.splitlines()), out
    line = out.strip()
    assert "━" in line and "12%" in line and "12345/100000" in line and line.endswith("ETA 1h02m"), out


def test_epoch_line_names_the_validation_loss():
    out = render(
        started(), ev.EpochMetrics(step=188, epoch=1.0, metrics={"loss": 0.4632, "accuracy": 0.8067})
    )
    assert "epoch 1.00 (step 188): val loss 0.4632 · accuracy 0.8067" in out
    assert "): loss" not in out


def test_a_resumed_run_ends_with_the_whole_runs_table_and_duration():
    from engine.history import RunHistory

    earlier = RunHistory().extend(
        [
            started(),
            ev.StepLoss(step=3, epoch=0.5, loss=0.9),
            ev.StepLoss(step=6, epoch=1.0, loss=0.7),
            ev.EpochMetrics(step=6, epoch=1.0, metrics={"loss": 0.6, "accuracy": 0.5}),
            ev.StepLoss(step=8, epoch=1.33, loss=0.6),
            ev.RunFinished(status="stopped", duration_seconds=46.0),
        ]
    )
    stream = io.StringIO()
    sink = console.ConsoleSink(stream, live=False)
    sink.continue_from(earlier)
    for event in (
        started(resumed=True),
        ev.StepLoss(step=10, epoch=1.67, loss=0.4),
        ev.StepLoss(step=12, epoch=2.0, loss=0.2),
        ev.EpochMetrics(step=12, epoch=2.0, metrics={"loss": 0.5, "accuracy": 0.75}),
        ev.RunFinished(status="completed", duration_seconds=16.0),
    ):
        sink(event)
    out = stream.getvalue()
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    # Epoch 2's train loss averages steps 7-12 over both segments, as results.toml does.
    assert [r[:5] for r in rows] == [
        ["1.00", "6", "0.8000", "0.6000", "0.5000"],
        ["2.00", "12", "0.4000", "0.5000", "0.7500"],
    ]
    assert "completed in 1m02s (this session 16s)" in out
    # Nothing of the earlier segment is printed again.
    assert "stopped" not in out and "(step 6)" not in out and out.count("Resuming r1") == 1
