"""What the three setup screens (dataset, model, arguments) share: the setup being edited, step keys, start and save."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label
from textual.worker import get_current_worker

from engine import config as cfg
from tui.messages import DatasetPreviewed, LookupFailed
from tui.run_setup import RunSetup
from tui.screens.base import FttuiScreen

STEPS = ("dataset", "model", "arguments")


def explain(exc: BaseException) -> str:
    """One line for the user: the engine's own wording for bad input, else the error's type and text."""
    text = str(exc) if isinstance(exc, cfg.PresetError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


class SetupScreen(FttuiScreen):
    """Base of the setup screens; subclasses set ``STEP`` and compose their own form."""

    STEP: ClassVar[str] = ""

    # F2-F4 stay out of the footer (it must fit 80 columns); the step bar shows them.
    BINDINGS = [
        Binding(
            "ctrl+r",
            "start_run",
            "Start run",
            id="setup.start",
            priority=True,
            tooltip="Start training with these settings, in its own process",
        ),
        Binding(
            "ctrl+n",
            "next_step",
            "Next",
            id="setup.next",
            priority=True,
            tooltip="Dataset → Model → Arguments → Dataset",
        ),
        Binding(
            "f2",
            "step('dataset')",
            "Dataset",
            show=False,
            id="setup.dataset",
            tooltip="Data source, columns, labels, token lengths",
        ),
        Binding(
            "f3",
            "step('model')",
            "Model",
            show=False,
            id="setup.model",
            tooltip="Checkpoint: hub id, local folder or your HF cache",
        ),
        Binding(
            "f4",
            "step('arguments')",
            "Arguments",
            show=False,
            id="setup.arguments",
            tooltip="TrainingArguments, with help and sources",
        ),
        Binding(
            "ctrl+s",
            "save_preset",
            "Save",
            id="setup.save",
            priority=True,
            tooltip="Save these settings as a user preset",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="setup.back",
            tooltip="In a text field: undo what was typed there and leave it; elsewhere: back to home",
        ),
    ]

    class DeviceProbed(Message):
        """Whether this machine has a CUDA GPU, and one with bfloat16 (``engine.gpu``)."""

        def __init__(self, cuda_available: bool, bf16_supported: bool) -> None:
            super().__init__()
            self.cuda_available = cuda_available
            self.bf16_supported = bf16_supported

    def __init__(self, setup: RunSetup) -> None:
        super().__init__()
        self.setup = setup

    def compose_steps(self) -> ComposeResult:
        yield Label("", id="steps")

    def on_mount(self) -> None:
        self.sub_title = f"set up · {self.setup.preset_name}"
        self.show_steps()

    def show_steps(self) -> None:
        parts = []
        for number, step in enumerate(STEPS, start=1):
            text = f"{step.capitalize()} F{number + 1}"
            parts.append(f"[b reverse] {text} [/]" if step == self.STEP else f" {text} ")
        edits = len(self.setup.edits)
        count = f" · {edits} edit{'s' * (edits != 1)}" if edits else ""
        tail = Content.from_markup("   preset [b]$name[/b]$count", name=self.setup.preset_name, count=count)
        self.query_one("#steps", Label).update(Content.from_markup(" › ".join(parts)) + tail)

    def effective_preset(self) -> cfg.Preset | None:
        """The preset with the edits so far; None (and the reason shown) when it does not resolve."""
        try:
            return self.setup.resolve()
        except cfg.PresetError as exc:
            self.show_error(str(exc))
            return None

    def apply_edits(self, changes: dict[str, Any], drop: Iterable[str] = (), quiet: bool = False) -> bool:
        """Record ``table.key = value`` edits if the preset still resolves; otherwise say why, inline and as a notification."""
        problem = self.setup.try_edits(changes, drop)
        if problem:
            if not quiet:
                self.refuse(problem, f"Not applied: {', '.join(changes)}")
            return False
        self.clear_error()
        self.show_steps()
        return True

    def refuse(self, problem: str, title: str) -> None:
        self.show_error(problem)
        self.notify(problem, title=title, severity="error", timeout=8, markup=False)

    # -- values typed but not yet applied ----------------------------------------------------------

    def typed_fields(self) -> list[Input]:
        """Text fields whose text differs from the value in force (subclasses say which)."""
        return []

    def apply_field(self, field: Input, *, quiet: bool = False, move_on: bool = False) -> bool:
        """Apply what ``field`` holds; False (and why, unless ``quiet``) when it cannot be applied."""
        return True

    def apply_typed(self) -> bool:
        """Apply every value typed but not applied yet; False, with the first bad field's error shown and focused."""
        pending = self.typed_fields()
        # One value can make another valid (an eval fraction lets a single file in): retry while that helps.
        while pending:
            left = [field for field in pending if not self.apply_field(field, quiet=True)]
            if len(left) == len(pending):
                break
            pending = left
        if not pending:
            return True
        self.apply_field(pending[0])
        pending[0].focus()
        return False

    def on_input_blurred(self, event: Input.Blurred) -> None:
        # Leaving a field applies it, as enter does; a modal opening on top is not leaving it.
        if self.app.screen is self and self.is_attached and event.input in self.typed_fields():
            self.apply_field(event.input)

    def revert_field(self, field: Input) -> None:
        """Put the value in force back into ``field`` (escape undoes typing)."""

    # -- what only the machine can say -------------------------------------------------------------

    def clear_error(self) -> None:
        """No error from the last edit: show what would still stop a start on this machine (bf16, no GPU), if any."""
        preset = self.effective_preset()
        if preset is not None:
            self.show_error(" · ".join(self.setup.start_problems(preset)))

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="device-probe",
        description="Checking for a GPU",
    )
    def probe_device(self) -> None:
        """Ask torch about the GPU (in a thread: importing torch takes a second or more)."""
        from engine import gpu

        cuda = gpu.cuda_available()
        self.post_message(self.DeviceProbed(cuda, cuda and gpu.bf16_supported()))

    def on_setup_screen_device_probed(self, message: DeviceProbed) -> None:
        self.setup.device = (message.cuda_available, message.bf16_supported)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="dataset-preview",
        description="Loading the dataset",
    )
    def preview_dataset(self, dataset: dict[str, Any], source: str) -> None:
        """Load the dataset and describe it (columns, first rows, labels); both data and model steps need it."""
        from engine.preview import dataset_preview

        worker = get_current_worker()
        try:
            preview = dataset_preview(dataset, source)
        except Exception as exc:  # an unreadable dataset is the user's to fix, never a traceback
            if not worker.is_cancelled:
                self.post_message(LookupFailed("dataset", explain(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(DatasetPreviewed(preview))

    def show_error(self, message: str) -> None:
        for label in self.query("#setup-error").results(Label):
            label.update(Content(message))
            label.display = bool(message)

    # -- actions -------------------------------------------------------------------------------

    def action_start_run(self) -> None:
        # What was typed is what the user means to run with; a bad value stops the start, never the old one runs.
        if not self.apply_typed():
            return
        preset = self.effective_preset()
        problems = self.setup.start_problems(preset) if preset is not None else []
        if problems:
            self.refuse(" · ".join(problems), "Cannot start the run")
            return
        self.app.start_run(self.setup)

    def action_next_step(self) -> None:
        self.action_step(STEPS[(STEPS.index(self.STEP) + 1) % len(STEPS)])

    def action_step(self, step: str) -> None:
        if step != self.STEP and self.apply_typed():
            self.app.open_setup(step, self.setup)

    def action_save_preset(self) -> None:
        from tui.screens.save_preset import SavePresetScreen

        if not self.apply_typed():
            return

        def saved(path: Any) -> None:
            if path is not None:
                self.notify(f"{path}\nit now shows on the home screen", title="Preset saved", markup=False)

        self.app.push_screen(SavePresetScreen(self.setup), saved)

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.revert_field(self.focused)
            self.focus_main()
        elif self.setup.unsaved:
            self.confirm_discard()
        else:
            self.app.go_home()

    def confirm_discard(self, then: Callable[[], object] | None = None) -> None:
        """Leaving would lose the edits: ask first (ctrl+s saves them as a preset of the user's own).

        ``then`` is where leaving goes (home unless the palette asked for somewhere else).
        """
        from tui.screens.confirm import ConfirmScreen

        count = len(self.setup.edits)
        lines = [f"  --set {text}" for text in self.setup.edit_strings()[:8]]
        if count > 8:
            lines.append(f"  … and {count - 8} more")
        lines += ["", "To keep them, cancel and press ctrl+s to save them as a preset of your own."]

        def decide(discard: bool | None) -> None:
            if discard:
                (then or self.app.go_home)()

        title = f"Discard {count} unsaved edit{'s' * (count != 1)} to {self.setup.preset_name}?"
        self.app.push_screen(ConfirmScreen(title, lines, "Discard"), decide)

    def focus_main(self) -> None:
        """Move focus off a text field to the screen's main list (subclasses choose which)."""
        self.set_focus(None)

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Start run",
            f"Start {self.setup.preset_name} with {len(self.setup.edits)} edit(s)",
            self.action_start_run,
        )
        yield SystemCommand(
            "Save as user preset", "Save these settings as a preset of your own", self.action_save_preset
        )
        for step in STEPS:
            yield SystemCommand(
                f"Setup: {step}", f"Go to the {step} step", lambda step=step: self.action_step(step)
            )
