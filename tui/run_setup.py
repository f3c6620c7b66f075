"""What the setup screens build: a preset plus the user's edits, and everything derived from them."""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine import config as cfg
from engine import paths

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MISSING = object()


def toml_value(value: Any) -> str:
    """``value`` as the TOML text a ``TABLE.KEY=VALUE`` override expects (inline tables included)."""
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def parse_value(text: str) -> Any:
    """What the user typed into a field, read the way ``--set`` reads it: TOML, else a bare string."""
    _, _, value = cfg.parse_override(f"training.x={text}")
    return value


@dataclass
class RunSetup:
    """A preset and the edits made to it on the dataset, model and arguments screens.

    Edits are kept as values keyed ``table.key``; the engine receives them as
    ``--edit TABLE.KEY=VALUE`` so that provenance records them as screen edits.
    """

    preset_ref: str
    preset_name: str
    edits: dict[str, Any] = field(default_factory=dict)
    # Processes on this node (torchrun's --nproc-per-node): how to launch, not part of the preset.
    nproc_per_node: int = 1
    # The last dataset preview, shared by the dataset and model screens.
    preview: Any = None
    # The edits as last saved to a user preset (None: never saved): leaving asks only about newer ones.
    saved_edits: dict[str, Any] | None = None
    # (CUDA available, bfloat16 supported) once a setup screen has asked ``engine.gpu``; None until then.
    device: tuple[bool, bool] | None = None

    @classmethod
    def for_preset(cls, name: str) -> RunSetup:
        return cls(preset_ref=name, preset_name=Path(name).stem)

    def edit_strings(self) -> list[str]:
        return [f"{key}={toml_value(value)}" for key, value in self.edits.items()]

    def resolve(self, extra: dict[str, Any] | None = None, without: Iterable[str] = ()) -> cfg.Preset:
        """The effective preset (light validation only: no transformers import). Raises ``PresetError``.

        ``extra``: edits to try on top; ``without``: edits to leave out.
        """
        edits = {k: v for k, v in self.edits.items() if k not in set(without)}
        edits.update(extra or {})
        strings = [f"{key}={toml_value(value)}" for key, value in edits.items()]
        return cfg.resolve(self.preset_ref, edit_overrides=strings, check_training=False)

    def try_edits(self, changes: dict[str, Any], drop: Iterable[str] = ()) -> str | None:
        """Record edits together (dropping the ``drop`` ones) if the preset still resolves; else change nothing and say why."""
        drop = [key for key in drop if key not in changes]
        try:
            self.resolve(changes, without=drop)
        except cfg.PresetError as exc:
            return str(exc)
        for key in drop:
            self.edits.pop(key, None)
        self.edits.update(changes)
        self.drop_no_ops(changes)
        return None

    def drop_no_ops(self, keys: Iterable[str]) -> None:
        """Forget the edits among ``keys`` that set what the preset already has: they change nothing."""
        try:
            edited = self.resolve()
        except cfg.PresetError:
            return
        for key in list(keys):
            if key not in self.edits:
                continue
            try:
                before = self.resolve(without=[key])
            except cfg.PresetError:
                continue
            if _same(_value_at(edited, key), _value_at(before, key)):
                del self.edits[key]

    def drop_edit(self, key: str) -> None:
        self.edits.pop(key, None)

    @property
    def unsaved(self) -> bool:
        """Whether leaving now would lose edits (made, and not saved as they are)."""
        return bool(self.edits) and self.edits != (self.saved_edits or {})

    def start_problems(self, preset: cfg.Preset) -> list[str]:
        """What stops ``preset`` from running on this machine that preset validation lets through (bf16 without a GPU)."""
        if self.device is None:
            return []
        cuda_available, bf16_supported = self.device
        try:
            cfg.check_device(preset, cuda_available=cuda_available, bf16_supported=bf16_supported)
        except cfg.PresetError as exc:
            return [str(exc)]
        return []

    def command(self) -> str:
        """The headless command that runs the same thing (edits shown as ``--set``)."""
        parts = ["fttui", "run", self.preset_ref]
        for text in self.edit_strings():
            parts += ["--set", text]
        if self.nproc_per_node > 1:
            parts += ["--nproc-per-node", str(self.nproc_per_node)]
        return shlex.join(parts)

    def source_of(self, preset: cfg.Preset, key: str) -> str:
        return cfg.EDIT_SOURCE if key in self.edits else preset.provenance.get(key, "")

    def save_as(self, name: str) -> Path:
        """Write the edits as a user preset that ``extends`` this one. Raises ``ValueError`` for a bad name."""
        if not PRESET_NAME.match(name):
            raise ValueError(f"'{name}': use letters, digits, '-', '_' or '.' (no spaces or slashes)")
        if name == self.preset_name:
            raise ValueError(f"'{name}' would extend itself; choose another name")
        from engine.results import atomic_write_toml

        base = self.resolve()
        data: dict[str, Any] = {
            "description": f"{base.description} (edited from {self.preset_name})".strip(),
            "extends": self.preset_ref,
        }
        for key, value in self.edits.items():
            table, sub = key.split(".", 1)
            data.setdefault(table, {})[sub] = value
        path = paths.user_presets_dir() / f"{name}.toml"
        atomic_write_toml(
            path, data, header=f"fttui user preset, saved from the app (extends {self.preset_ref})."
        )
        self.saved_edits = copy.deepcopy(self.edits)
        return path


def _value_at(preset: cfg.Preset, key: str) -> Any:
    table, sub = key.split(".", 1)
    return getattr(preset, table).get(sub, _MISSING)


def _same(a: Any, b: Any) -> bool:
    """Equal as settings: a blank string clears a key, so it is the same as no value at all."""

    def blank(value: Any) -> bool:
        return value is _MISSING or value is None or (isinstance(value, str) and not value)

    if blank(a) or blank(b):
        return blank(a) and blank(b)
    return type(a) is type(b) and a == b
