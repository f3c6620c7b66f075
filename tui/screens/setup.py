"""What the three setup screens (dataset, model, arguments) share: the setup being edited, step keys, start and save."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.content import Content
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
            tooltip="Leave the text field; from elsewhere, back to home",
        ),
    ]

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

    def apply_edits(self, changes: dict[str, Any]) -> bool:
        """Record ``table.key = value`` edits if the preset still resolves; otherwise say why, inline and as a notification."""
        problem = self.setup.try_edits(changes)
        if problem:
            self.show_error(problem)
            self.notify(
                problem, title=f"Not applied: {', '.join(changes)}", severity="error", timeout=8, markup=False
            )
            return False
        self.show_error("")
        self.show_steps()
        return True

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
        self.app.start_run(self.setup)

    def action_next_step(self) -> None:
        self.action_step(STEPS[(STEPS.index(self.STEP) + 1) % len(STEPS)])

    def action_step(self, step: str) -> None:
        if step != self.STEP:
            self.app.open_setup(step, self.setup)

    def action_save_preset(self) -> None:
        from tui.screens.save_preset import SavePresetScreen

        def saved(path: Any) -> None:
            if path is not None:
                self.notify(f"{path}\nit now shows on the home screen", title="Preset saved", markup=False)

        self.app.push_screen(SavePresetScreen(self.setup), saved)

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.focus_main()
        else:
            self.app.go_home()

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
