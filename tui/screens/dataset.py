"""Dataset setup: hub id + config or local files, a preview of the first rows, columns, labels and token lengths."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, Input, Label, Select, Static
from textual.worker import get_current_worker

from engine import config as cfg
from engine.console import clip
from engine.preview import DatasetPreview
from tui.messages import DatasetPreviewed, LookupFailed, TokenLengthsMeasured
from tui.run_setup import RunSetup, parse_value, toml_value
from tui.screens.setup import SetupScreen, explain

SOURCE_KEYS = ("hub_id", "config", "files")
SPLIT_KEYS = ("train_split", "eval_split", "eval_fraction")
LIMIT_KEYS = ("max_train_samples", "max_eval_samples", "max_length")
FIELD_KEYS = (*SOURCE_KEYS, *SPLIT_KEYS, *LIMIT_KEYS)
# Names, taken as typed (never read as TOML); an empty one clears the preset's.
NAME_KEYS = ("hub_id", "config", "train_split", "eval_split")
# Changing these changes what the preview and token lengths show.
PREVIEW_KEYS = (*SOURCE_KEYS, "train_split", "max_length")
BAR_WIDTH = 24
# A label column with more distinct values than this share of its rows is not a label.
ID_LIKE_SHARE = 0.5
ID_LIKE_MIN_ROWS = 20
# No preview column gets narrower than this when the row is too wide for the screen.
MIN_CELL = 6


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else toml_value(value)


def fit_widths(natural: dict[str, int], budget: int) -> dict[str, int]:
    """Column widths that fit ``budget`` cells: short columns whole, the rest share what is left equally."""
    widths: dict[str, int] = {}
    left = dict(natural)
    while left:
        share = budget // len(left)
        short = {column: width for column, width in left.items() if width <= share}
        if not short:
            widths.update({column: max(MIN_CELL, share) for column in left})
            break
        for column, width in short.items():
            widths[column] = width
            budget -= width
            del left[column]
    return {column: widths[column] for column in natural}


def typed_problem(key: str, text: str) -> str | None:
    """What is wrong with ``text`` for a number field, seen as it is typed (the engine checks the rest)."""
    if not text:
        return None
    if key in LIMIT_KEYS and not (text.isdigit() and int(text) > 0):
        return f"[dataset] {key}: expected a positive whole number"
    if key == "eval_fraction":
        value = parse_value(text)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            return "[dataset] eval_fraction: expected a number between 0 and 1, e.g. 0.1"
    return None


class DatasetScreen(SetupScreen):
    """Where the data comes from and what in it is text and label; every choice is checked against the real data."""

    STEP = "dataset"
    AUTO_FOCUS = "#preview-rows"
    HELP = """\
**Dataset.** Name a hub dataset (`glue` + config `mrpc`) or local files (a path, or a table
like `{ train = "train.csv", validation = "dev.csv" }`). A value applies when you press enter
or leave the field; escape undoes what you typed. Evaluate on a split of the data (*eval
split*), or carve a share of the training rows off for it (*eval fraction*, e.g. 0.1:
stratified by label, seeded by `split_seed`), which is the way for a single file.
The preview shows the real columns: choose the text column(s) (two for sentence pairs) and
the label column. Token lengths use the model's tokenizer: *truncated* counts the examples
that `max_length` would cut.
"""

    def __init__(self, setup: RunSetup) -> None:
        super().__init__(setup)
        # What each field showed when last filled from the preset: any other text is typed, not applied.
        self.shown: dict[str, str] = {}
        self.typing_error = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_steps()
        with VerticalScroll(id="dataset-body", classes="setup-body"):
            with Horizontal(classes="form-row"):
                yield Label("hub id", classes="field-label")
                yield Input(id="hub_id", placeholder="e.g. glue (empty: local files)", compact=True)
                yield Label("config", classes="field-label")
                yield Input(id="config", placeholder="e.g. mrpc", compact=True, classes="short")
            with Horizontal(classes="form-row"):
                yield Label("files", classes="field-label")
                yield Input(
                    id="files", placeholder='path, or { train = "a.csv", validation = "b.csv" }', compact=True
                )
            with Horizontal(classes="form-row"):
                yield Label("text", classes="field-label")
                yield Select([], id="text1", prompt="text column", compact=True, allow_blank=True)
                yield Label("pair", classes="field-label")
                yield Select([], id="text2", prompt="(single text)", compact=True, allow_blank=True)
                yield Label("label", classes="field-label")
                yield Select([], id="label", prompt="label column", compact=True, allow_blank=True)
            with Horizontal(classes="form-row"):
                yield Label("train split", classes="field-label")
                yield Input(id="train_split", placeholder="train", compact=True, classes="short")
                yield Label("eval split", classes="field-label")
                yield Input(id="eval_split", placeholder="none", compact=True, classes="short")
                yield Label("eval fraction", classes="field-label")
                yield Input(id="eval_fraction", placeholder="e.g. 0.1", compact=True, classes="short")
            with Horizontal(classes="form-row"):
                yield Label("max train", classes="field-label")
                yield Input(
                    id="max_train_samples", placeholder="all", compact=True, classes="short", type="integer"
                )
                yield Label("max eval", classes="field-label")
                yield Input(
                    id="max_eval_samples", placeholder="all", compact=True, classes="short", type="integer"
                )
                yield Label("max length", classes="field-label")
                yield Input(
                    id="max_length", placeholder="model's", compact=True, classes="short", type="integer"
                )
            yield Label("", id="setup-error", classes="field-error")
            yield Label("", id="dataset-warning", classes="field-warning")
            yield Label("loading the dataset…", id="dataset-splits", classes="dim")
            yield DataTable(id="preview-rows", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="dataset-stats"):
                yield Static("", id="label-distribution")
                yield Static("", id="token-stats")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#preview-rows", DataTable).border_title = "First rows"
        self.query_one("#label-distribution", Static).border_title = "Labels (train split)"
        self.query_one("#token-stats", Static).border_title = "Token lengths"
        self.show_error("")
        self.show_warning("")
        self.fill_form()
        self.load_preview()

    def focus_main(self) -> None:
        self.set_focus(self.query_one("#preview-rows"))

    def fill_form(self, keys: tuple[str, ...] = FIELD_KEYS) -> None:
        """Show the values in force in the fields; a field holding typed text keeps it unless named in ``keys``."""
        preset = self.effective_preset()
        if preset is None:
            return
        ds = preset.dataset
        typed = {field.id for field in self.typed_fields()}
        for key in FIELD_KEYS:
            field = self.query_one(f"#{key}", Input)
            if key in keys or key not in typed:
                self.shown[key] = _shown(ds.get(key))
                with self.prevent(Input.Changed):
                    field.value = self.shown[key]
                field.set_class(False, "-invalid")
            source = self.setup.source_of(preset, f"dataset.{key}") or "not set"
            field.tooltip = Content(f"[dataset] {key}: {cfg.DATASET_KEYS[key].help} · from {source}")

    def show_warning(self, message: str) -> None:
        label = self.query_one("#dataset-warning", Label)
        label.update(Content(message))
        label.display = bool(message)

    # -- background look-ups ---------------------------------------------------------------------

    def load_preview(self) -> None:
        preset = self.effective_preset()
        if preset is None:
            return
        self.query_one("#preview-rows", DataTable).loading = True
        self.query_one("#dataset-splits", Label).update("loading the dataset…")
        self.preview_dataset(dict(preset.dataset), preset.source)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="token-lengths",
        description="Measuring token lengths",
    )
    def measure_tokens(self, dataset: dict[str, Any], model: dict[str, Any], source: str) -> None:
        from engine.preview import token_lengths

        worker = get_current_worker()
        try:
            stats = token_lengths(dataset, model, source)
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(LookupFailed("tokenizer", explain(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(TokenLengthsMeasured(stats))

    def on_dataset_previewed(self, message: DatasetPreviewed) -> None:
        preview: DatasetPreview = message.preview
        self.setup.preview = preview
        self.query_one("#preview-rows", DataTable).loading = False
        self.show_rows(preview)
        splits = " · ".join(f"{name} {rows:,} rows" for name, rows in preview.splits.items())
        self.query_one("#dataset-splits", Label).update(
            Content(f"{splits} · columns: {', '.join(preview.columns)}")
        )
        self._fill_columns(preview.columns)
        self._show_labels(preview)
        if preview.problems:
            self.show_error(" · ".join(preview.problems))
            self.notify(preview.problems[0], title="Check the columns", severity="warning", markup=False)
            self.query_one("#token-stats", Static).update(
                "choose valid text columns to measure token lengths"
            )
            return
        self.clear_error()
        preset = self.effective_preset()
        if preset is not None:
            self.query_one("#token-stats", Static).loading = True
            self.measure_tokens(dict(preset.dataset), dict(preset.model), preset.source)

    def show_rows(self, preview: DatasetPreview) -> None:
        """The first rows, every column fitted to the table's width: short ones (a label) are never cut."""
        table = self.query_one("#preview-rows", DataTable)
        table.clear(columns=True)
        natural = {
            column: max([len(column), *(len(row[column]) for row in preview.rows)])
            for column in preview.columns
        }
        # Each column has a cell of padding either side; keep room for a scroll bar.
        budget = (table.content_size.width or self.size.width - 4) - 2 * len(natural) - 2
        widths = fit_widths(natural, budget)
        for column in preview.columns:
            table.add_column(column, key=column, width=widths[column])
        for row in preview.rows:
            table.add_row(*(Text(clip(row[c], widths[c])) for c in preview.columns))

    def on_resize(self) -> None:
        if self.setup.preview is not None:
            self.show_rows(self.setup.preview)

    def on_token_lengths_measured(self, message: TokenLengthsMeasured) -> None:
        stats = message.stats
        widget = self.query_one("#token-stats", Static)
        widget.loading = False
        if not stats:
            widget.update("no text to measure")
            return
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("sample", f"{stats['examples']:.0f} examples")
        table.add_row("mean / median", f"{stats['mean']:.1f} / {stats['median']:.0f}")
        table.add_row("p95 / max", f"{stats['p95']:.0f} / {stats['max']:.0f}")
        table.add_row("max_length", f"{stats['limit']:.0f}")
        share = stats["truncated"] / stats["examples"] if stats["examples"] else 0.0
        table.add_row("truncated", f"{stats['truncated']:.0f} ({share:.0%})")
        widget.update(table)

    def on_lookup_failed(self, message: LookupFailed) -> None:
        if message.what == "dataset":
            table = self.query_one("#preview-rows", DataTable)
            table.loading = False
            table.clear(columns=True)
            self.query_one("#dataset-splits", Label).update(
                "the dataset could not be loaded: the columns are the preset's, unchecked"
            )
            self._fill_columns(None)
            self.show_error(message.message)
            self.notify(
                message.message, title="Dataset not loaded", severity="error", timeout=12, markup=False
            )
        else:
            widget = self.query_one("#token-stats", Static)
            widget.loading = False
            widget.update(Content(f"no tokenizer: {message.message}"))
            self.notify(
                message.message,
                title="Token lengths unavailable",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def _fill_columns(self, columns: list[str] | None) -> None:
        """The column pickers: the data's columns with the preset's choices selected; without
        the data (``columns`` None) only the preset's own choices, so they are not blank."""
        preset = self.effective_preset()
        if preset is None and columns is None:
            return
        chosen = list(preset.dataset.get("text_columns") or []) if preset else []
        label = preset.dataset.get("label_column", "label") if preset else "label"
        with self.prevent(Select.Changed):
            for select_id, value in (
                ("#text1", chosen[0] if chosen else None),
                ("#text2", chosen[1] if len(chosen) > 1 else None),
                ("#label", label),
            ):
                options = columns if columns is not None else [value] if value else []
                select = self.query_one(select_id, Select)
                select.set_options([(c, c) for c in options])
                select.value = value if value in options else Select.NULL

    def _show_labels(self, preview: DatasetPreview) -> None:
        widget = self.query_one("#label-distribution", Static)
        self.show_warning("")
        rows = sum(preview.label_counts.values())
        distinct = len(preview.label_counts)
        if rows >= ID_LIKE_MIN_ROWS and distinct > rows * ID_LIKE_SHARE:
            warning = (
                f"{preview.label_column} has {distinct:,} distinct values in {rows:,} rows: "
                "it looks like an id, not a label"
            )
            self.show_warning(f"⚠ {warning}; choose the column that holds the classes")
            self.notify(warning, title="Check the label column", severity="warning", timeout=10, markup=False)
        if preview.task == "regression":
            widget.update(Content(f"'{preview.label_column}' holds numbers: a regression task (1 output)"))
            return
        if not preview.label_counts:
            widget.update("no labels to count")
            return
        total = sum(preview.label_counts.values()) or 1
        top = max(preview.label_counts.values()) or 1
        shown = list(preview.label_counts.items())[:12]
        # Names and counts keep their width; only the bar gives way in a narrow panel.
        name_width = min(18, max(len(str(name)) for name, _ in shown))
        count_width = max(len(f"{count:,} ({count / total:.0%})") for _, count in shown)
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(no_wrap=True, min_width=name_width, max_width=18)
        table.add_column(justify="right", no_wrap=True, min_width=count_width)
        table.add_column(no_wrap=True, overflow="crop")
        for name, count in shown:
            bar = "█" * max(1, round(count / top * BAR_WIDTH)) if count else ""
            table.add_row(Text(name), f"{count:,} ({count / total:.0%})", bar)
        if len(preview.label_counts) > 12:
            table.add_row("…", f"{len(preview.label_counts) - 12} more", "")
        widget.update(table)

    # -- edits -------------------------------------------------------------------------------------

    def typed_fields(self) -> list[Input]:
        fields = [self.query_one(f"#{key}", Input) for key in FIELD_KEYS]
        return [f for f in fields if f.value.strip() != self.shown.get(f.id or "", "").strip()]

    @on(Input.Changed)
    def _check_typed(self, event: Input.Changed) -> None:
        key = event.input.id or ""
        if key not in FIELD_KEYS:
            return
        problem = typed_problem(key, event.value.strip())
        event.input.set_class(problem is not None, "-invalid")
        if problem:
            self.show_error(problem)
        elif self.typing_error:
            self.clear_error()
        self.typing_error = problem is not None

    @on(Input.Submitted)
    def _apply_field(self, event: Input.Submitted) -> None:
        if event.input.id in FIELD_KEYS:
            self.apply_field(event.input, move_on=True)

    def revert_field(self, field: Input) -> None:
        if field.id in FIELD_KEYS and field in self.typed_fields():
            self.fill_form((field.id,))
            self.clear_error()

    def changes_for(self, key: str, text: str) -> tuple[dict[str, Any], list[str]]:
        """The edits (and the edits to drop) that setting ``key`` to ``text`` means."""
        preset = self.effective_preset()
        ds = preset.dataset if preset is not None else {}
        dkey = f"dataset.{key}"
        if not text:
            if dkey in self.setup.edits:
                # Back to the preset's value; a source switched back takes its counterpart back too.
                partner = {"hub_id": "dataset.files", "files": "dataset.hub_id"}.get(key)
                drop = [dkey] + ([partner] if partner and self.setup.edits.get(partner) == "" else [])
                return {}, drop
            return ({dkey: ""}, []) if key in NAME_KEYS and ds.get(key) else ({}, [])
        value: Any = text if key in NAME_KEYS else parse_value(text)
        changes: dict[str, Any] = {dkey: value}
        drop: list[str] = []
        # A preset has one source and one way to evaluate: choosing one empties the other.
        if key == "files" and ds.get("hub_id"):
            changes["dataset.hub_id"] = ""
        if key == "hub_id" and ds.get("files"):
            changes["dataset.files"] = ""
        if key == "eval_fraction" and ds.get("eval_split"):
            changes["dataset.eval_split"] = ""
        if key == "eval_split":
            drop.append("dataset.eval_fraction")
        return changes, drop

    def apply_field(self, field: Input, *, quiet: bool = False, move_on: bool = False) -> bool:
        key = field.id or ""
        text = field.value.strip()
        problem = typed_problem(key, text)
        if problem:
            if not quiet:
                field.set_class(True, "-invalid")
                self.refuse(problem, f"Not applied: dataset.{key}")
            return False
        changes, drop = self.changes_for(key, text)
        if not self.apply_edits(changes, drop, quiet=quiet):
            if not quiet:
                field.set_class(True, "-invalid")
            return False
        self.fill_form((key,))
        if move_on:
            self.focus_main()
        if key in PREVIEW_KEYS:
            self.load_preview()
        return True

    @on(Select.Changed)
    def _apply_columns(self, event: Select.Changed) -> None:
        text1 = self.query_one("#text1", Select).value
        text2 = self.query_one("#text2", Select).value
        label = self.query_one("#label", Select).value
        if event.select.id in ("text1", "text2") and isinstance(text1, str):
            columns = [text1] + ([text2] if isinstance(text2, str) and text2 != text1 else [])
            changes: dict[str, Any] = {"dataset.text_columns": columns}
        elif event.select.id == "label" and isinstance(label, str):
            changes = {"dataset.label_column": label}
        else:
            return
        if not self.apply_edits(changes):
            # The lists show what is in force, never a choice that was refused.
            if self.setup.preview is not None:
                self._fill_columns(self.setup.preview.columns)
            return
        self.load_preview()
