"""The headless console: user text shown as written, one error line per failure, readable figures."""

from __future__ import annotations

import io

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
