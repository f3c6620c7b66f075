"""What the setup screens build: a preset plus the user's edits, and everything derived from them."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine import config as cfg
from engine import paths

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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

    @classmethod
    def for_preset(cls, name: str) -> RunSetup:
        return cls(preset_ref=name, preset_name=Path(name).stem)

    def edit_strings(self) -> list[str]:
        return [f"{key}={toml_value(value)}" for key, value in self.edits.items()]

    def resolve(self, extra: dict[str, Any] | None = None) -> cfg.Preset:
        """The effective preset (light validation only: no transformers import). Raises ``PresetError``."""
        edits = dict(self.edits, **(extra or {}))
        strings = [f"{key}={toml_value(value)}" for key, value in edits.items()]
        return cfg.resolve(self.preset_ref, edit_overrides=strings, check_training=False)

    def try_edits(self, changes: dict[str, Any]) -> str | None:
        """Record edits together if the preset still resolves with them; else change nothing and say why."""
        try:
            self.resolve(changes)
        except cfg.PresetError as exc:
            return str(exc)
        self.edits.update(changes)
        return None

    def drop_edit(self, key: str) -> None:
        self.edits.pop(key, None)

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
        return path
