"""Model setup: a hub id, a local folder, or a checkpoint already in the local Hugging Face cache."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Footer, Header, Input, Label, OptionList, Switch
from textual.widgets.option_list import Option

from engine.console import fmt_bytes
from engine.demo import is_demo_ref
from engine.preview import CachedCheckpoint
from tui.messages import CachedCheckpointsFound, DatasetPreviewed, LookupFailed
from tui.run_setup import RunSetup
from tui.screens.setup import SetupScreen, explain

# The hub's repository ids: "name" or "owner/name", each letters, digits, "-", "_" or ".".
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_HUB_ID = 96


def describe_checkpoint(checkpoint: str, cached: list[CachedCheckpoint]) -> tuple[str, str]:
    """What a checkpoint string points at: (explanation, kind), kind one of error/demo/local/cached/hub."""
    if not checkpoint:
        return "name a checkpoint: a hub id, a local folder, or pick one from your cache below", "error"
    if is_demo_ref(checkpoint):
        return "fttui's demo model, built locally on first use (no network needed)", "demo"
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if (path / "config.json").exists():
            return f"local folder: {path}", "local"
        return f"{path} is a folder but has no config.json: not a model checkpoint", "error"
    if checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") > 1:
        return f"no such folder: {checkpoint}", "error"
    if not HUB_ID.match(checkpoint) or len(checkpoint) > MAX_HUB_ID:
        return (
            f"'{checkpoint}' is neither a folder nor a hub id (name or owner/name: letters, digits, - _ .)",
            "error",
        )
    if any(c.repo_id == checkpoint for c in cached):
        return "hub id, already in your Hugging Face cache: loads without the network", "cached"
    return "hub id, not in your cache: downloaded when the run starts (needs the hub)", "hub"


class ModelScreen(SetupScreen):
    """Choose the checkpoint; the number of labels comes from the dataset, the head is new."""

    STEP = "model"
    AUTO_FOCUS = "#cached-models"
    HELP = """\
**Model.** Type a hub id (`bert-base-uncased`) or a local folder with a `config.json`, or
pick a checkpoint already downloaded to your Hugging Face cache (listed from the cache
itself; enter picks it). A typed value applies on enter or when you leave the field; escape
undoes it. *Trust remote code* runs Python shipped with the checkpoint: leave it off unless
you trust its authors. The classification head gets one output per label of the dataset
and is initialised fresh: the run's warnings show that load report.
"""

    def __init__(self, setup: RunSetup) -> None:
        super().__init__(setup)
        self.cached: list[CachedCheckpoint] = []
        # What each text field showed when last filled: any other text is typed, not applied.
        self.shown: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_steps()
        with VerticalScroll(id="model-body", classes="setup-body", can_focus=False):
            with Horizontal(classes="form-row"):
                yield Label("checkpoint", classes="field-label")
                yield Input(id="checkpoint", placeholder="hub id or local folder", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("revision", classes="field-label")
                yield Input(id="revision", placeholder="main", compact=True, classes="short")
                yield Label("trust remote code", classes="field-label")
                yield Switch(
                    id="trust_remote_code",
                    tooltip="Run model code shipped with the checkpoint: only for checkpoints you trust",
                )
                yield Label("", id="trust-state")
            yield Label("", id="setup-error", classes="field-error")
            yield Label("", id="checkpoint-info")
            yield Label("labels: waiting for the dataset…", id="labels-info")
            yield OptionList(id="cached-models")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.show_error("")
        self.query_one("#cached-models", OptionList).border_title = "In your Hugging Face cache"
        self.fill_form()
        self.query_one("#cached-models", OptionList).loading = True
        self.find_cached()
        if self.setup.preview is not None:
            self.show_labels(self.setup.preview)
        else:
            preset = self.effective_preset()
            if preset is not None:
                self.preview_dataset(dict(preset.dataset), preset.source)

    def focus_main(self) -> None:
        self.set_focus(self.query_one("#cached-models"))

    def fill_form(self, keys: tuple[str, ...] = ("checkpoint", "revision")) -> None:
        """Show the values in force; a field holding typed text keeps it unless named in ``keys``."""
        preset = self.effective_preset()
        if preset is None:
            return
        model = preset.model
        typed = {field.id for field in self.typed_fields()}
        for key in ("checkpoint", "revision"):
            field = self.query_one(f"#{key}", Input)
            if key in typed and key not in keys:
                continue
            self.shown[key] = str(model.get(key, ""))
            with self.prevent(Input.Changed):
                field.value = self.shown[key]
            field.set_class(False, "-invalid")
        with self.prevent(Switch.Changed):
            self.query_one("#trust_remote_code", Switch).value = bool(model.get("trust_remote_code"))
        self.show_trust(bool(model.get("trust_remote_code")))
        source = self.setup.source_of(preset, "model.checkpoint")
        self.query_one("#checkpoint", Input).tooltip = Content(f"[model] checkpoint · from {source}")
        self.show_checkpoint(self.query_one("#checkpoint", Input).value.strip())

    def show_trust(self, on: bool) -> None:
        """Say the security setting's state in words, not only by the switch's position."""
        state = self.query_one("#trust-state", Label)
        state.update("ON: runs checkpoint code" if on else "off")
        state.set_class(on, "-on")

    def show_checkpoint(self, checkpoint: str) -> None:
        text, kind = describe_checkpoint(checkpoint, self.cached)
        info = self.query_one("#checkpoint-info", Label)
        info.update(Content(text))
        info.set_class(kind == "error", "field-error")

    def show_labels(self, preview: Any) -> None:
        label = self.query_one("#labels-info", Label)
        if preview.task == "regression":
            label.update("labels: numbers (regression): the model gets 1 output")
        elif preview.label_names:
            names = ", ".join(preview.label_names[:8]) + (" …" if len(preview.label_names) > 8 else "")
            label.update(
                Content(
                    f"labels: {preview.num_labels} ({names}), from the dataset: a fresh {preview.num_labels}-way head"
                )
            )
        else:
            label.update("labels: the dataset's label column could not be read (see the dataset step)")

    # -- background look-ups -----------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="hf-cache",
        description="Reading the Hugging Face cache",
    )
    def find_cached(self) -> None:
        from engine.preview import cached_checkpoints

        try:
            found = cached_checkpoints()
        except Exception as exc:  # a damaged cache must not stop anyone typing a hub id
            self.post_message(LookupFailed("cache", explain(exc)))
            return
        self.post_message(CachedCheckpointsFound(found))

    @work(thread=True, exclusive=True, exit_on_error=False, group="hub-probe", description="Checking the hub")
    def check_hub(self, checkpoint: str) -> None:
        from engine import hub

        if not hub.reachable():
            self.post_message(LookupFailed("hub", hub.unreachable_model_message(checkpoint)))

    def on_cached_checkpoints_found(self, message: CachedCheckpointsFound) -> None:
        self.cached = message.checkpoints
        options = self.query_one("#cached-models", OptionList)
        options.loading = False
        options.clear_options()
        if not self.cached:
            options.add_option(
                Option(Content("(nothing cached yet: models you download appear here)"), disabled=True)
            )
        for item in self.cached:
            when = time.strftime("%Y-%m-%d", time.localtime(item.last_modified))
            revisions = f"{item.revisions} revisions" if item.revisions != 1 else "1 revision"
            options.add_option(
                Option(
                    Content(f"{item.repo_id}  ·  {fmt_bytes(item.size_bytes)}  ·  {revisions}  ·  {when}"),
                    id=item.repo_id,
                )
            )
        if self.cached:
            options.highlighted = 0
        self.show_checkpoint(self.query_one("#checkpoint", Input).value.strip())

    def on_dataset_previewed(self, message: DatasetPreviewed) -> None:
        self.setup.preview = message.preview
        self.show_labels(message.preview)

    def on_lookup_failed(self, message: LookupFailed) -> None:
        if message.what == "dataset":
            self.query_one("#labels-info", Label).update(Content(f"labels: unknown ({message.message})"))
        elif message.what == "cache":
            self.query_one("#cached-models", OptionList).loading = False
            self.notify(
                message.message,
                title="Could not read the Hugging Face cache",
                severity="warning",
                markup=False,
            )
        else:
            self.notify(
                message.message,
                title="Hugging Face hub unreachable",
                severity="warning",
                timeout=12,
                markup=False,
            )

    # -- edits -------------------------------------------------------------------------------------

    @on(Input.Changed, "#checkpoint")
    def _describe_typed(self, event: Input.Changed) -> None:
        self.show_checkpoint(event.value.strip())

    def typed_fields(self) -> list[Input]:
        fields = [self.query_one(f"#{key}", Input) for key in ("checkpoint", "revision")]
        return [f for f in fields if f.value.strip() != self.shown.get(f.id or "", "").strip()]

    @on(Input.Submitted)
    def _apply_field(self, event: Input.Submitted) -> None:
        self.apply_field(event.input, move_on=True)

    def revert_field(self, field: Input) -> None:
        if field in self.typed_fields():
            with self.prevent(Input.Changed):
                field.value = self.shown.get(field.id or "", "")
            self.show_checkpoint(self.shown.get("checkpoint", ""))
            self.clear_error()

    def apply_field(self, field: Input, *, quiet: bool = False, move_on: bool = False) -> bool:
        key = field.id or ""
        text = field.value.strip()
        if not text:
            self.setup.drop_edit(f"model.{key}")
            self.show_steps()
            self.fill_form((key,))
            return True
        if key == "checkpoint":
            return self.choose_checkpoint(text, quiet=quiet, move_on=move_on)
        if not self.apply_edits({f"model.{key}": text}, quiet=quiet):
            return False
        self.fill_form((key,))
        if move_on:
            self.focus_main()
        return True

    def choose_checkpoint(self, checkpoint: str, *, quiet: bool = False, move_on: bool = True) -> bool:
        text, kind = describe_checkpoint(checkpoint, self.cached)
        if kind == "error":
            # The line under the field already says what is wrong, in the error colour: not twice.
            if not quiet:
                self.show_checkpoint(checkpoint)
                self.notify(text, title="Not applied: model.checkpoint", severity="error", markup=False)
            return False
        if not self.apply_edits({"model.checkpoint": checkpoint}, quiet=quiet):
            return False
        self.fill_form(("checkpoint",))
        if move_on:
            self.focus_main()
        if kind == "hub":
            self.check_hub(checkpoint)
        return True

    @on(OptionList.OptionSelected, "#cached-models")
    def _pick_cached(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.choose_checkpoint(event.option.id)

    @on(Switch.Changed, "#trust_remote_code")
    def _trust(self, event: Switch.Changed) -> None:
        if self.apply_edits({"model.trust_remote_code": event.value}):
            self.show_trust(event.value)
