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

from engine.console import clip
from engine.preview import DatasetPreview
from tui.messages import DatasetPreviewed, LookupFailed, TokenLengthsMeasured
from tui.run_setup import parse_value, toml_value
from tui.screens.setup import SetupScreen, explain

SOURCE_KEYS = ("hub_id", "config", "files")
LIMIT_KEYS = ("max_train_samples", "max_eval_samples", "max_length")
BAR_WIDTH = 24
# Long texts are clipped so the label column stays in view at 80 columns.
PREVIEW_CELL = 56


def _shown(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else toml_value(value)


class DatasetScreen(SetupScreen):
    """Where the data comes from and what in it is text and label; every choice is checked against the real data."""

    STEP = "dataset"
    AUTO_FOCUS = "#preview-rows"
    HELP = """\
**Dataset.** Name a hub dataset (`glue` + config `mrpc`) or local files (a path, or a table
like `{ train = "train.csv", validation = "dev.csv" }`); press enter in a field to apply it.
The preview shows the real columns: choose the text column(s) (two for sentence pairs) and
the label column. Token lengths use the model's tokenizer: *truncated* counts the examples
that `max_length` would cut.
"""

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
        self.fill_form()
        self.load_preview()

    def focus_main(self) -> None:
        self.query_one("#preview-rows").focus()

    def fill_form(self) -> None:
        preset = self.effective_preset()
        if preset is None:
            return
        ds = preset.dataset
        for key in (*SOURCE_KEYS, *LIMIT_KEYS):
            field = self.query_one(f"#{key}", Input)
            with self.prevent(Input.Changed):
                field.value = _shown(ds.get(key))
            source = self.setup.source_of(preset, f"dataset.{key}") or "not set"
            field.tooltip = Content(f"[dataset] {key} · from {source}")

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
        table = self.query_one("#preview-rows", DataTable)
        table.loading = False
        table.clear(columns=True)
        for column in preview.columns:
            table.add_column(column, key=column)
        for row in preview.rows:
            table.add_row(*(Text(clip(row[c], PREVIEW_CELL)) for c in preview.columns))
        splits = " · ".join(f"{name} {rows:,} rows" for name, rows in preview.splits.items())
        self.query_one("#dataset-splits", Label).update(
            Content(f"{splits} · columns: {', '.join(preview.columns)}")
        )
        self._fill_columns(preview)
        self._show_labels(preview)
        if preview.problems:
            self.show_error(" · ".join(preview.problems))
            self.notify(preview.problems[0], title="Check the columns", severity="warning", markup=False)
            self.query_one("#token-stats", Static).update(
                "choose valid text columns to measure token lengths"
            )
            return
        preset = self.effective_preset()
        if preset is not None:
            self.query_one("#token-stats", Static).loading = True
            self.measure_tokens(dict(preset.dataset), dict(preset.model), preset.source)

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
            self.query_one("#dataset-splits", Label).update("the dataset could not be loaded")
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

    def _fill_columns(self, preview: DatasetPreview) -> None:
        preset = self.effective_preset()
        chosen = list(preset.dataset.get("text_columns") or []) if preset else []
        label = preset.dataset.get("label_column", "label") if preset else "label"
        options = [(c, c) for c in preview.columns]
        with self.prevent(Select.Changed):
            for select_id, value in (
                ("#text1", chosen[0] if chosen else None),
                ("#text2", chosen[1] if len(chosen) > 1 else None),
                ("#label", label),
            ):
                select = self.query_one(select_id, Select)
                select.set_options(options)
                select.value = value if value in preview.columns else Select.NULL

    def _show_labels(self, preview: DatasetPreview) -> None:
        widget = self.query_one("#label-distribution", Static)
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

    @on(Input.Changed)
    def _check_limit(self, event: Input.Changed) -> None:
        key = event.input.id or ""
        if key in LIMIT_KEYS and event.value.strip():
            ok = event.value.strip().isdigit() and int(event.value) > 0
            event.input.set_class(not ok, "-invalid")
            self.show_error("" if ok else f"[dataset] {key}: expected a positive whole number")

    @on(Input.Submitted)
    def _apply_field(self, event: Input.Submitted) -> None:
        key = event.input.id or ""
        if key not in (*SOURCE_KEYS, *LIMIT_KEYS):
            return
        text = event.value.strip()
        if not text:
            self.setup.drop_edit(f"dataset.{key}")
            self.show_steps()
            self.fill_form()
        else:
            value: Any = int(text) if key in LIMIT_KEYS and text.isdigit() else parse_value(text)
            if key in ("hub_id", "config"):
                value = text  # a hub name, never TOML
            changes = {f"dataset.{key}": value}
            preset = self.effective_preset()
            if key == "files" and preset is not None and preset.dataset.get("hub_id"):
                # A preset has exactly one source: switching to files empties the hub id.
                changes["dataset.hub_id"] = ""
            if not self.apply_edits(changes):
                return
        self.focus_main()
        if key in SOURCE_KEYS or key == "max_length":
            self.load_preview()

    @on(Select.Changed)
    def _apply_columns(self, event: Select.Changed) -> None:
        text1 = self.query_one("#text1", Select).value
        text2 = self.query_one("#text2", Select).value
        label = self.query_one("#label", Select).value
        if event.select.id in ("text1", "text2") and isinstance(text1, str):
            columns = [text1] + ([text2] if isinstance(text2, str) and text2 != text1 else [])
            if not self.apply_edits({"dataset.text_columns": columns}):
                return
        elif event.select.id == "label" and isinstance(label, str):
            if not self.apply_edits({"dataset.label_column": label}):
                return
        else:
            return
        self.load_preview()
