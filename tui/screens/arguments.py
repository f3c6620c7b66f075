"""Training arguments: every TrainingArguments field with its help, common ones first, a search, checks as you type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Footer, Header, Input, Label

from engine import config as cfg
from engine.console import clip
from tui.messages import LookupFailed, TrainingFieldsLoaded
from tui.run_setup import RunSetup, parse_value, toml_value
from tui.screens.setup import SetupScreen, explain

# A handful of TrainingArguments names run to 40 characters; at 80 columns they would push
# the "from" column off screen. The full name and value show under the table.
FIELD_WIDTH = 30
VALUE_WIDTH = 24
# What most fine-tuning runs touch, in the order people think about them.
COMMON_FIELDS = (
    "num_train_epochs",
    "learning_rate",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "eval_strategy",
    "save_strategy",
    "logging_steps",
    "max_steps",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "seed",
    "bf16",
    "fp16",
    "load_best_model_at_end",
    "metric_for_best_model",
    "save_total_limit",
    "activation_checkpointing",
    "use_cpu",
)
TRANSFORMERS_DEFAULT = "transformers default"


def processes_problem(text: str) -> str | None:
    """Why ``text`` is not a number of processes per node (empty means 1), or None."""
    if not text or (text.isdigit() and int(text) >= 1):
        return None
    return f"processes per node: '{text}' is not a whole number of 1 or more"


def shown_value(value: Any) -> str:
    """A value as the user would type it: bare words for plain strings, TOML for everything else."""
    if value is None:
        return ""
    if isinstance(value, str) and value and parse_value(value) == value:
        return value
    return toml_value(value)


class ArgumentsScreen(SetupScreen):
    """A table of fields (value and where it came from) and an editor for the highlighted one."""

    STEP = "arguments"
    AUTO_FOCUS = "#fields"
    HELP = """\
**Arguments.** The `[training]` table maps onto `transformers.TrainingArguments`: every
field is here, common ones first; type in the search box to find any by name or help.
Enter on a field edits it; values are checked as you type (and against this machine: bf16
needs a GPU with bfloat16) and apply on enter or when you leave the box; escape undoes
them, delete drops your edit of the highlighted field. The
*from* column says where each value comes from (preset, fttui default, screen edit).
*Processes per node* launches the run through torchrun with that many processes (one per
GPU; 1 is a plain single process). The command at the bottom runs the same thing headless.
"""

    BINDINGS = [
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            id="arguments.search",
            tooltip="Search all fields by name or help text",
        ),
        # Out of the footer, which must fit 80 columns with Help in it; help and the palette list it.
        Binding(
            "delete",
            "reset_field",
            "Reset field",
            show=False,
            id="arguments.reset",
            tooltip="Drop your edit of the highlighted field",
        ),
    ]

    def __init__(self, setup: RunSetup) -> None:
        super().__init__(setup)
        self.fields: dict[str, Any] | None = None
        self.editing: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_steps()
        with Vertical(id="arguments-body", classes="setup-body"):
            yield Input(
                id="field-search",
                placeholder="/ search TrainingArguments fields by name or help…",
                compact=True,
            )
            yield DataTable(id="fields", cursor_type="row", zebra_stripes=True)
            with Vertical(id="field-editor"):
                yield Label("", id="field-name")
                yield Label("", id="field-help")
                with Horizontal(classes="form-row"):
                    yield Label("value", classes="field-label")
                    yield Input(id="field-value", placeholder="(not set)", compact=True, disabled=True)
                    yield Label("enter: edit", id="field-hint", classes="dim")
                yield Label("", id="setup-error", classes="field-error")
            with Horizontal(id="launch-row", classes="form-row"):
                yield Label("processes per node", classes="field-label")
                yield Input(
                    str(self.setup.nproc_per_node),
                    id="nproc",
                    placeholder="1",
                    compact=True,
                    classes="short",
                    type="integer",
                )
                yield Label("torchrun starts this many training processes (one per GPU)", classes="dim")
            yield Label("", id="command-preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.show_error("")
        table = self.query_one("#fields", DataTable)
        table.border_title = "TrainingArguments"
        table.add_column("field", key="field")
        table.add_column("value", key="value")
        table.add_column("from", key="from")
        table.loading = True
        self.fill_table()
        self.show_command()
        self.load_fields()
        if self.setup.device is None:
            self.probe_device()

    def focus_main(self) -> None:
        self.set_focus(self.query_one("#fields"))

    # -- the fields ----------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="training-fields",
        description="Reading TrainingArguments",
    )
    def load_fields(self) -> None:
        from engine import hub

        # Importing transformers takes seconds; it is done here, after the screen is up.
        hub.prepare()
        try:
            fields = cfg.training_fields()
        except Exception as exc:
            self.post_message(LookupFailed("fields", explain(exc)))
            return
        self.post_message(TrainingFieldsLoaded(fields))

    def on_training_fields_loaded(self, message: TrainingFieldsLoaded) -> None:
        self.fields = message.fields
        self.query_one("#fields", DataTable).loading = False
        self.fill_table()
        self.show_field(self.highlighted())

    def on_setup_screen_device_probed(self, message: SetupScreen.DeviceProbed) -> None:
        super().on_setup_screen_device_probed(message)
        # A preset that cannot run here (bf16 without a GPU) says so now, not when the run fails.
        if self.editing is None:
            self.clear_error()

    def on_lookup_failed(self, message: LookupFailed) -> None:
        self.query_one("#fields", DataTable).loading = False
        self.notify(message.message, title="TrainingArguments unavailable", severity="error", markup=False)

    def field_names(self, preset: cfg.Preset) -> list[str]:
        known = list(self.fields or {}) or list(preset.training)
        ordered = [n for n in COMMON_FIELDS if n in known or n in preset.training]
        ordered += sorted(n for n in {*known, *preset.training} if n not in ordered)
        query = self.query_one("#field-search", Input).value.strip().lower()
        if not query:
            return ordered
        by_name = [n for n in ordered if query in n.lower()]
        by_help = [
            n for n in ordered if n not in by_name and self.fields and query in self.fields[n].help.lower()
        ]
        return by_name + by_help

    def value_and_source(self, preset: cfg.Preset, name: str) -> tuple[Any, str]:
        key = f"training.{name}"
        if name in preset.training:
            return preset.training[name], self.setup.source_of(preset, key)
        default = self.fields[name].default if self.fields and name in self.fields else None
        return default, TRANSFORMERS_DEFAULT

    def fill_table(self) -> None:
        preset = self.effective_preset()
        if preset is None:
            return
        table = self.query_one("#fields", DataTable)
        highlighted = self.highlighted()
        table.clear()
        names = self.field_names(preset)
        for name in names:
            value, source = self.value_and_source(preset, name)
            table.add_row(
                Text(clip(name, FIELD_WIDTH)),
                Text(clip(shown_value(value), VALUE_WIDTH)),
                Text(source),
                key=name,
            )
        if highlighted in names:
            table.move_cursor(row=names.index(highlighted))

    def highlighted(self) -> str | None:
        table = self.query_one("#fields", DataTable)
        if not table.row_count:
            return None
        return str(table.ordered_rows[table.cursor_row].key.value)

    @on(DataTable.RowHighlighted, "#fields")
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        self.show_field(str(event.row_key.value))

    def show_field(self, name: str | None) -> None:
        """The highlighted field's name, help and value in force; an edit of another field is abandoned."""
        title = self.query_one("#field-name", Label)
        help_text = self.query_one("#field-help", Label)
        editor = self.query_one("#field-value", Input)
        if not (name is not None and name == self.editing and editor in self.typed_fields()):
            self.close_editor()
            preset = self.effective_preset()
            value = self.value_and_source(preset, name)[0] if preset is not None and name else None
            with self.prevent(Input.Changed):
                editor.value = shown_value(value)
        if name is None:
            title.update("no field matches the search")
            help_text.update("")
            return
        tf = self.fields.get(name) if self.fields else None
        kind = (
            f"one of {', '.join(tf.choices)}"
            if tf and tf.choices
            else (self._type_name(tf.hint) if tf else "")
        )
        default = f" · default {shown_value(tf.default)}" if tf and tf.default not in (None, "") else ""
        title.update(
            Content.from_markup(
                "[b]$name[/b]  [dim]$kind$default[/dim]", name=name, kind=kind, default=default
            )
        )
        help_text.update(Content(tf.help if tf else "loading help…"))

    @staticmethod
    def _type_name(hint: Any) -> str:
        text = str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
        return clip(text, 40)

    @on(Input.Changed, "#field-search")
    def _search(self) -> None:
        self.fill_table()
        self.show_field(self.highlighted())

    @on(Input.Submitted, "#field-search")
    def _search_done(self) -> None:
        self.focus_main()

    # -- editing -------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#fields")
    def _edit(self, event: DataTable.RowSelected) -> None:
        if self.fields is None:
            self.notify("still reading TrainingArguments…", severity="warning", markup=False)
            return
        name = str(event.row_key.value)
        preset = self.effective_preset()
        if preset is None:
            return
        self.editing = name
        editor = self.query_one("#field-value", Input)
        editor.disabled = False
        with self.prevent(Input.Changed):
            editor.value = self.value_in_force(name)
        editor.focus()
        self.query_one("#field-hint", Label).update("enter: apply · esc: undo")
        self.clear_error()

    def value_in_force(self, name: str) -> str:
        preset = self.effective_preset()
        return shown_value(self.value_and_source(preset, name)[0]) if preset is not None else ""

    def close_editor(self) -> None:
        """Back to showing the highlighted field's value; a pending error about the edit goes with it."""
        editor = self.query_one("#field-value", Input)
        had_error = self.editing is not None and editor.has_class("-invalid")
        self.editing = None
        editor.set_class(False, "-invalid")
        editor.disabled = True
        self.query_one("#field-hint", Label).update("enter: edit")
        if had_error:
            self.clear_error()

    def problem_with(self, name: str, text: str) -> str | None:
        """Why ``text`` is not a valid value for field ``name`` (the engine's own check), or None."""
        if not text:
            return None
        return cfg.check_training_value(name, parse_value(text))

    def device_problem(self, changes: dict[str, Any]) -> str | None:
        """Why the setup with ``changes`` cannot run on this machine (once known), in the engine's words."""
        if self.setup.device is None:
            return None
        cuda_available, bf16_supported = self.setup.device
        try:
            preset = self.setup.resolve(changes)
            cfg.check_device(preset, cuda_available=cuda_available, bf16_supported=bf16_supported)
        except cfg.PresetError as exc:
            return str(exc)
        return None

    @on(Input.Changed, "#field-value")
    def _check_typed(self, event: Input.Changed) -> None:
        if self.editing is None:
            return
        text = event.value.strip()
        problem = self.problem_with(self.editing, text)
        message = f"[training] {self.editing}: {problem}" if problem else None
        if message is None and text:
            message = self.device_problem({f"training.{self.editing}": parse_value(text)})
        event.input.set_class(message is not None, "-invalid")
        if message:
            self.show_error(message)
        else:
            self.clear_error()

    @on(Input.Submitted, "#field-value")
    def _apply_value(self, event: Input.Submitted) -> None:
        self.apply_field(event.input, move_on=True)

    def typed_fields(self) -> list[Input]:
        editor = self.query_one("#field-value", Input)
        nproc = self.query_one("#nproc", Input)
        typed = []
        if self.editing is not None and editor.value.strip() != self.value_in_force(self.editing).strip():
            typed.append(editor)
        if nproc.value.strip() != str(self.setup.nproc_per_node):
            typed.append(nproc)
        return typed

    def apply_field(self, field: Input, *, quiet: bool = False, move_on: bool = False) -> bool:
        if field.id == "nproc":
            if not self.apply_processes(quiet=quiet):
                return False
            if move_on:
                self.focus_main()
            return True
        name, text = self.editing, field.value.strip()
        if name is None:
            return True
        key = f"training.{name}"
        if not text:
            self.setup.drop_edit(key)
            self._edited(move_on)
            return True
        problem = self.problem_with(name, text)
        if problem:
            if not quiet:
                field.set_class(True, "-invalid")
                self.refuse(f"[training] {name}: {problem}", "Not applied")
            return False
        value = parse_value(text)
        try:
            # Rules across fields (load_best_model_at_end needs matching strategies...) need the whole preset.
            cfg.validate_training(self.setup.resolve({key: value}))
        except cfg.PresetError as exc:
            if not quiet:
                field.set_class(True, "-invalid")
                self.refuse(str(exc), "Not applied")
            return False
        device = self.device_problem({key: value})
        if device:
            if not quiet:
                field.set_class(True, "-invalid")
                self.refuse(device, "Not applied")
            return False
        self.setup.try_edits({key: value})
        self._edited(move_on)
        return True

    def _edited(self, move_on: bool = True) -> None:
        # Applied from inside the box (ctrl+r, ctrl+s): the box is closing, so focus goes back to the table.
        move_on = move_on or self.focused is self.query_one("#field-value", Input)
        self.close_editor()
        self.clear_error()
        self.show_steps()
        self.fill_table()
        self.show_field(self.highlighted())
        self.show_command()
        if move_on:
            self.focus_main()

    # -- processes per node ----------------------------------------------------------------------

    @on(Input.Changed, "#nproc")
    def _check_processes(self, event: Input.Changed) -> None:
        problem = processes_problem(event.value.strip())
        event.input.set_class(problem is not None, "-invalid")
        if problem:
            self.show_error(problem)
        else:
            self.clear_error()

    @on(Input.Submitted, "#nproc")
    def _apply_processes(self, event: Input.Submitted) -> None:
        self.apply_field(event.input, move_on=True)

    def apply_processes(self, quiet: bool = False) -> bool:
        """Take the typed number of processes; False (and why, inline and as a notification) if it is not one."""
        field = self.query_one("#nproc", Input)
        text = field.value.strip()
        problem = processes_problem(text)
        if problem:
            if not quiet:
                self.refuse(problem, "Not applied")
            return False
        self.setup.nproc_per_node = int(text or 1)
        with self.prevent(Input.Changed):
            field.value = str(self.setup.nproc_per_node)
        field.set_class(False, "-invalid")
        self.clear_error()
        self.show_command()
        return True

    def action_processes(self) -> None:
        self.query_one("#nproc", Input).focus()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield from super().palette_commands()
        yield SystemCommand(
            "Setup: processes per node",
            "Launch the run through torchrun with several processes (one per GPU)",
            self.action_processes,
        )

    def show_command(self) -> None:
        self.query_one("#command-preview", Label).update(Content(f"$ {self.setup.command()}"))

    def action_search(self) -> None:
        self.query_one("#field-search", Input).focus()

    def action_reset_field(self) -> None:
        name = self.highlighted()
        if name and f"training.{name}" in self.setup.edits:
            self.setup.drop_edit(f"training.{name}")
            self._edited()
            self.notify(f"{name}: back to the preset's value", title="Edit dropped", markup=False)

    def revert_field(self, field: Input) -> None:
        # Escape drops what was typed; the table and the command show the values in force.
        if field.id == "nproc":
            with self.prevent(Input.Changed):
                field.value = str(self.setup.nproc_per_node)
            field.set_class(False, "-invalid")
            self.clear_error()
        elif field.id == "field-value":
            self.close_editor()
            self.show_field(self.highlighted())
            self.clear_error()
