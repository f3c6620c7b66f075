"""Headless display of a run's events: a Rich live progress on a terminal, plain lines anywhere else."""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from engine.events import (
    BAD_INPUT,
    DatasetReady,
    EpochMetrics,
    Event,
    ModelLoaded,
    RunFinished,
    RunStarted,
    RunWarning,
    Stage,
    StepLoss,
    StopRequested,
    TrainingPlan,
    ValidationPredictions,
)
from engine.events import Progress as ProgressEvent
from engine.history import RunHistory
from engine.results import epoch_rows

PLAIN_PROGRESS_SECONDS = 10.0
# The live bar's width: at most BAR_MAX; loss and epoch give way before it drops under BAR_MIN,
# samples/s and elapsed time before it drops under BAR_ROOM.
BAR_MAX = 40
BAR_MIN = 8
BAR_ROOM = 20


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")


def fmt_number(value: float, places: int = 2) -> str:
    """``value`` to ``places`` decimals without trailing zeros: 3, 0.32, 1.5."""
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def fmt_epochs(epochs: float) -> str:
    """A run's length in epochs: "3 epochs", "1 epoch", "0.32 epochs" (max_steps short of one pass)."""
    text = fmt_number(epochs)
    return f"{text} epoch" if text == "1" else f"{text} epochs"


def fmt_bytes(count: float) -> str:
    if not count or not math.isfinite(count):
        return "0 B"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = min(len(units) - 1, int(math.log(max(count, 1), 1024)))
    value = count / 1024**power
    return f"{value:.0f} {units[power]}" if power == 0 else f"{value:.1f} {units[power]}"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def fmt_metric(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}"


def metrics_table(history: RunHistory, title: str = "Validation metrics per epoch") -> Table:
    """One row per evaluation, the best row marked: shared by the console and the app."""
    names = history.metric_names
    metric = history.headline_metric
    best = history.best_evaluation(metric)
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("epoch", justify="right")
    table.add_column("step", justify="right")
    table.add_column("train loss", justify="right")
    for name in names:
        # Metric names come from the preset's metrics: Text keeps "[...]" in them from reading as markup.
        table.add_column(Text(("val " if name == "loss" else "") + name), justify="right")
    table.add_column("", justify="left")
    # The rows results.toml writes, so the table and the file agree on every train loss.
    for ev, row in zip(history.evaluations, epoch_rows(history), strict=True):
        is_best = best is ev
        cells = [
            f"{ev.epoch:.2f}",
            str(ev.step),
            fmt_metric(row["train_loss"]) if "train_loss" in row else "--",
            *(fmt_metric(ev.metrics.get(n, "--")) for n in names),
        ]
        table.add_row(*cells, Text(f"★ best {metric}") if is_best else "", style="bold" if is_best else None)
    return table


class _PiecesColumn(ProgressColumn):
    """The task's figures named in ``keys``, joined by dots: "· epoch 1.54 · loss 0.3772 · ETA 13s"."""

    def __init__(self, keys: list[str]):
        super().__init__()
        self.keys = keys

    def render(self, task: Task) -> Text:
        pieces = [task.fields[k] for k in self.keys if task.fields.get(k)]
        return Text("· " + " · ".join(pieces) if pieces else "")


class TrainingProgress(Progress):
    """Rich's progress line, laid out again for the console's width at every refresh.

    Left to itself, Rich gives each column its natural width and cuts the overflow: at 80
    columns the bar vanished and the percentage and ETA were cut. Here the bar, percentage,
    step count and ETA always show; the other figures are left out, least needed first, and
    the bar takes the room that is left. Task fields hold the figures as display text:
    ``epoch``, ``loss``, ``speed``, ``elapsed`` and ``eta``.
    """

    def make_tasks_table(self, tasks: Any) -> Table:
        tasks = list(tasks)
        if tasks:
            self.columns = self.fit(self.console.width, tasks[0])
        return super().make_tasks_table(tasks)

    @staticmethod
    def fit(width: int, task: Task) -> list[Any]:
        fields = task.fields
        steps = f"{task.completed:.0f}/{task.total or 0:.0f}"
        # Five columns, one space between each; "100%" is the widest percentage.
        room = width - cell_len(task.description) - 4 - cell_len(steps) - 4
        room -= cell_len("· " + fields.get("eta", ""))
        shown = []
        for key, keep in (("loss", BAR_MIN), ("epoch", BAR_MIN), ("speed", BAR_ROOM), ("elapsed", BAR_ROOM)):
            cost = cell_len(fields.get(key, "")) + len(" · ")
            if fields.get(key) and room - cost - len(" steps") >= keep:
                shown.append(key)
                room -= cost
        label = " steps" if room - len(" steps") >= BAR_MIN else ""
        room -= len(label)
        return [
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=max(1, min(BAR_MAX, room))),
            TaskProgressColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}" + label, markup=False),
            _PiecesColumn([k for k in ("epoch", "loss", "speed", "elapsed", "eta") if k in (*shown, "eta")]),
        ]


class ConsoleSink:
    """Renders events for a person watching a headless run.

    Everything that comes from the user or the data (run id, paths, column and metric
    names, errors, warnings) is printed as ``Text``, never as Rich markup: a column named
    ``[/b]`` must show as written, not end a style or raise. A failure marked "bad input"
    is not repeated here: the command that started the run reports it as its one
    ``fttui: error:`` line, which is what scripts read.
    """

    def __init__(
        self, stream: IO[str] | None = None, live: bool | None = None, console: Console | None = None
    ):
        stream = stream or sys.stdout
        self.console = console or Console(file=stream, highlight=False, soft_wrap=False)
        self.live = self.console.is_terminal if live is None else live
        if not self.live and console is None:
            # No cursor tricks, no colours, no carriage returns: output for logs and pipes.
            self.console = Console(
                file=stream, highlight=False, color_system=None, force_terminal=False, width=200
            )
        self.history = RunHistory()
        self.progress: Progress | None = None
        self.task: Any = None
        self._last_plain = 0.0
        self._last_loss: float | None = None

    # -- live (terminal) --------------------------------------------------------------------------

    def _start_bar(self, total: int, completed: int) -> None:
        if not self.live or self.progress is not None:
            return
        self.progress = TrainingProgress(console=self.console, transient=False)
        self.task = self.progress.add_task("training", total=total, completed=completed)
        self.progress.start()

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def print(self, *args: Any, **kwargs: Any) -> None:
        target = self.progress.console if self.progress is not None else self.console
        target.print(*args, **kwargs)

    def continue_from(self, earlier: RunHistory) -> None:
        """Take the earlier segments of a resumed run as known, without printing them again.

        The end-of-run table and duration then cover the whole run, as results.toml does.
        ``earlier`` becomes this sink's own: pass a copy of a history that others update.
        """
        self.history = earlier

    # -- events ------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.history.apply(event)
        match event:
            case RunStarted():
                what = "Resuming" if event.resumed else "Run"
                self.print(
                    Text.assemble(
                        (f"{what} {event.run_id}", "bold"), f" · preset {event.preset} · {event.device}"
                    )
                )
                self.print(Text(f"  folder {event.output_dir}"))
            case Stage():
                if event.name not in ("training",):
                    self.print(Text(f"  … {event.name}" + (f" ({event.detail})" if event.detail else "")))
            case DatasetReady():
                labels = ", ".join(event.labels) if event.labels else "regression"
                self.print(
                    Text(
                        f"  data: {event.train_examples} train / {event.eval_examples} eval ({event.eval_source}); labels: {labels}"
                    )
                )
            case ModelLoaded():
                self.print(
                    Text(
                        f"  model: {event.architecture} ({event.parameters / 1e6:.1f}M parameters) · metrics: {event.metrics_source}"
                    )
                )
            case TrainingPlan():
                self.print(
                    Text(
                        f"  plan: {event.total_steps} steps, {fmt_epochs(event.num_epochs)}, global batch {event.global_batch_size}, {event.precision}"
                    )
                )
                self._start_bar(event.total_steps, event.start_step)
            case ProgressEvent():
                self._on_progress(event)
            case StepLoss():
                self._last_loss = event.loss
            case EpochMetrics():
                # "val loss": progress lines print the training loss as plain "loss".
                values = " · ".join(
                    f"{'val loss' if k == 'loss' else k} {fmt_metric(v)}" for k, v in event.metrics.items()
                )
                self.print(
                    Text.assemble(
                        "  ", (f"epoch {event.epoch:.2f}", "bold"), f" (step {event.step}): {values}"
                    )
                )
            case RunWarning():
                self.print(
                    Text.assemble("  ", (f"warning ({event.category}):", "yellow"), f" {event.message}")
                )
            case StopRequested():
                self.print(
                    Text.assemble(
                        "  ",
                        (f"stopping after step {event.step}:", "yellow"),
                        f" {event.reason} (saving a checkpoint)",
                    )
                )
            case ValidationPredictions():
                pass
            case RunFinished():
                self._stop_bar()
                self._summary(event)

    def _on_progress(self, event: ProgressEvent) -> None:
        figures = {
            "epoch": f"epoch {event.epoch:.2f}",
            "loss": f"loss {self._last_loss:.4f}" if self._last_loss is not None else "",
            "speed": f"{event.samples_per_second:.1f} samples/s",
            "elapsed": f"elapsed {fmt_duration(event.elapsed_seconds)}",
            "eta": f"ETA {fmt_duration(event.eta_seconds)}",
        }
        if self.live:
            if self.progress is None:
                self._start_bar(event.total_steps, event.step)
            self.progress.update(self.task, completed=event.step, total=event.total_steps, **figures)
            return
        info = " · ".join(figures[k] for k in ("epoch", "loss", "speed", "eta") if figures[k])
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_PROGRESS_SECONDS or event.step >= event.total_steps:
            self._last_plain = now
            pct = 100.0 * event.step / event.total_steps if event.total_steps else 0.0
            self.print(Text(f"  step {event.step}/{event.total_steps} ({pct:.0f}%) · {info}"))

    def _summary(self, event: RunFinished) -> None:
        if self.history.evaluations:
            self.print(metrics_table(self.history))
        colour = {"completed": "green", "stopped": "yellow"}.get(event.status, "red")
        took = fmt_duration(event.duration_seconds)
        if self.history.segments > 1:
            # Active time over every segment, as results.toml's duration_seconds counts it.
            took = f"{fmt_duration(self.history.finished_segments_seconds)} (this session {took})"
        self.print(Text.assemble((event.status, f"bold {colour}"), f" in {took}"))
        if event.error and event.error_type != BAD_INPUT:
            self.print(Text.assemble("  ", ("error:", "red"), f" {event.error}"))
        if event.last_checkpoint:
            self.print(Text(f"  last checkpoint: {event.last_checkpoint}"))
        if event.results_path:
            self.print(Text(f"  results: {event.results_path}"))
