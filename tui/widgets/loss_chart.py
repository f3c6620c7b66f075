"""A compact braille line chart of training loss, with validation loss drawn over it and epoch marks."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from engine.history import RunHistory

Point = tuple[float, float]

BRAILLE_BASE = 0x2800
# Braille dot bits by (column, row) inside one 2x4 cell.
DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
EPOCH_GUIDE = "┊"
# Epoch guides stay at least this many columns apart on average, marking every n-th epoch.
GUIDE_SPACING = 6
GUIDE_STRIDES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def fmt_axis(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Pixels on the segment between two pixels (Bresenham)."""
    pixels = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        pixels.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return pixels
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def epoch_guides(epoch_steps: Sequence[float], x_max: float, cols: int, pixel_w: int) -> dict[int, int]:
    """Column -> epoch number of the epoch guides to draw.

    A long run has more epochs than the chart has room for: guides then mark every 2nd,
    5th, 10th... epoch, so they stay a few columns apart and keep their true numbers.
    """
    epochs = [(number, step) for number, step in enumerate(epoch_steps, start=1) if 0 < step < x_max]
    room = max(1, cols // GUIDE_SPACING)
    stride = next((s for s in GUIDE_STRIDES if len(epochs) / s <= room), GUIDE_STRIDES[-1])
    guides: dict[int, int] = {}
    for number, step in epochs:
        if number % stride == 0:
            guides.setdefault(min(cols - 1, round(step / x_max * (pixel_w - 1)) // 2), number)
    return guides


def plot_lines(
    train: Sequence[Point],
    evals: Sequence[Point],
    epoch_steps: Sequence[float],
    x_max: float,
    width: int,
    height: int,
    styles: dict[str, Style],
    empty_note: str = "waiting for the first logged loss…",
) -> list[Text]:
    """``height`` lines of ``width`` cells: y-axis labels, the plot, an x axis with epoch ticks and step labels."""
    blank = [Text(" " * width) for _ in range(height)]
    finite_train = [(x, y) for x, y in train if math.isfinite(y)]
    finite_evals = [(x, y) for x, y in evals if math.isfinite(y)]
    values = [y for _, y in finite_train] + [y for _, y in finite_evals]
    if height < 4 or width < 16:
        return blank
    if not values:
        blank[height // 2] = Text(empty_note.center(width)[:width], style=styles["axis"])
        return blank

    low, high = min(values), max(values)
    if high - low < 1e-9:
        pad = abs(high) * 0.05 or 0.5
        low, high = low - pad, high + pad
    labels = [fmt_axis(high), fmt_axis((high + low) / 2), fmt_axis(low)]
    label_width = max(len(label) for label in labels)
    rows = height - 2
    cols = width - label_width - 1
    pixel_w, pixel_h = cols * 2, rows * 4
    x_max = max(x_max, *(x for x, _ in finite_train + finite_evals), 1)

    x_scale, y_scale = (pixel_w - 1) / x_max, (pixel_h - 1) / (high - low)

    def layer(points: Sequence[Point], marker: bool) -> dict[tuple[int, int], int]:
        cells: dict[tuple[int, int], int] = {}

        def dot(px: int, py: int) -> None:
            if 0 <= px < pixel_w and 0 <= py < pixel_h:
                cell = (px // 2, py // 4)
                cells[cell] = cells.get(cell, 0) | DOT_BITS[px % 2][py % 4]

        # A long run has many points per pixel column: keep each column's first, last, top
        # and bottom pixel, so drawing costs the chart's width, not the run's length.
        columns: list[list[int]] = []
        for x, y in points:
            px = min(max(int(x * x_scale + 0.5), 0), pixel_w - 1)
            py = min(max(int((high - y) * y_scale + 0.5), 0), pixel_h - 1)
            if columns and columns[-1][0] == px:
                column = columns[-1]
                column[2], column[3], column[4] = py, min(column[3], py), max(column[4], py)
            else:
                columns.append([px, py, py, py, py])
        previous: tuple[int, int] | None = None
        for px, first, last, top, bottom in columns:
            if previous is not None:
                for qx, qy in _line(*previous, px, first):
                    dot(qx, qy)
            for qy in range(top, bottom + 1):
                dot(px, qy)
            if marker:
                # A 3x3 block makes a single evaluation visible among the train line's dots.
                for dx in (-1, 0, 1):
                    for dy in (-1, 0, 1):
                        dot(px + dx, first + dy)
            previous = (px, last)
        return cells

    train_cells = layer(finite_train, marker=False)
    eval_cells = layer(finite_evals, marker=True)
    guides = epoch_guides(epoch_steps, x_max, cols, pixel_w)

    lines: list[Text] = []
    label_rows = {0: labels[0], (rows - 1) // 2: labels[1], rows - 1: labels[2]}
    for row in range(rows):
        line = Text(no_wrap=True, overflow="crop")
        line.append(label_rows.get(row, "").rjust(label_width), styles["axis"])
        line.append("┤" if row in label_rows else "│", styles["axis"])
        for col in range(cols):
            bits_eval = eval_cells.get((col, row), 0)
            bits = bits_eval | train_cells.get((col, row), 0)
            if bits:
                line.append(chr(BRAILLE_BASE + bits), styles["eval" if bits_eval else "train"])
            elif col in guides:
                line.append(EPOCH_GUIDE, styles["epoch"])
            else:
                line.append(" ")
        lines.append(line)

    axis = ["─"] * cols
    under = [" "] * cols
    for col, number in sorted(guides.items()):
        axis[col] = "┴"
        tag = f"ep{number}"
        start = max(0, min(col - len(tag) // 2, cols - len(tag)))
        if all(c == " " for c in under[max(0, start - 1) : start + len(tag) + 1]):
            under[start : start + len(tag)] = tag
    right = f"{x_max:g} steps"
    if cols > len(right) + 2 and all(c == " " for c in under[cols - len(right) - 1 :]):
        under[cols - len(right) :] = right
    under[0] = "0" if under[0] == " " else under[0]
    lines.append(Text(" " * label_width + "└" + "".join(axis), style=styles["axis"], no_wrap=True))
    lines.append(Text(" " * (label_width + 1) + "".join(under), style=styles["axis"], no_wrap=True))
    return lines


class LossChart(Widget):
    """Training loss as a line, validation loss as marked points over it, epochs as faint guides."""

    DEFAULT_CSS = """
    LossChart {
        height: 12;
        min-height: 6;
        border: round $primary 40%;
        border-title-color: $text;
        padding: 0 1;
    }
    LossChart > .loss-chart--train { color: $primary; }
    LossChart > .loss-chart--eval { color: $warning; text-style: bold; }
    LossChart > .loss-chart--axis { color: $text-muted; }
    LossChart > .loss-chart--epoch { color: $text-disabled; }
    """

    COMPONENT_CLASSES = {"loss-chart--train", "loss-chart--eval", "loss-chart--axis", "loss-chart--epoch"}

    # The points live in lists that only grow, as a run's history does; this key changes
    # when they grow or the epochs change, and a change is what triggers a redraw.
    shape: reactive[tuple] = reactive(tuple, always_update=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[Point] = []
        self.evals: list[Point] = []
        self.epoch_steps: tuple[float, ...] = ()
        self.x_max = 0.0
        self._source: RunHistory | None = None
        self._ended = False
        self._evaluations_seen = 0
        self._cache_key: tuple | None = None
        self._cache: Text = Text()

    def on_mount(self) -> None:
        self.border_title = "Loss"
        self.border_subtitle = "[$primary]⣀ train[/]  [$warning]⣿ eval[/]"

    def show(self, history: RunHistory) -> None:
        """Take the losses, evaluations and epoch boundaries from a run's history (only what is new)."""
        if history is not self._source:
            self._source, self.train, self.evals, self._evaluations_seen = history, [], [], 0
        self.train.extend((float(s.step), s.loss) for s in history.losses[len(self.train) :])
        new = history.evaluations[self._evaluations_seen :]
        self.evals.extend((float(e.step), e.metrics["loss"]) for e in new if "loss" in e.metrics)
        self._evaluations_seen = len(history.evaluations)
        plan = history.plan
        if plan and plan.steps_per_epoch:
            count = math.ceil(plan.total_steps / plan.steps_per_epoch)
            self.epoch_steps = tuple(float(plan.steps_per_epoch * k) for k in range(1, min(count, 200)))
        else:
            self.epoch_steps = tuple(float(e.step) for e in history.evaluations)
        self.x_max = float(history.total_steps or 0)
        self._ended = history.finished is not None
        self.shape = (len(self.train), self._evaluations_seen, self.epoch_steps, self.x_max, self._ended)

    def render(self) -> RenderResult:
        width, height = self.content_size
        key = (self.shape, width, height, self.app.theme)
        if key != self._cache_key:
            styles = {
                name: self.get_component_rich_style(f"loss-chart--{name}", partial=True)
                for name in ("train", "eval", "axis", "epoch")
            }
            note = (
                "no loss was logged: the run ended first"
                if self._ended
                else "waiting for the first logged loss…"
            )
            lines = plot_lines(
                self.train, self.evals, self.epoch_steps, self.x_max, width, height, styles, note
            )
            self._cache = Text("\n").join(lines)
            self._cache_key = key
        return self._cache
