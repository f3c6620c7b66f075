"""Presets: read TOML, follow ``extends``, layer edits and ``--set``, validate, record provenance.

Precedence, lowest to highest (stated once, shown by the arguments screen and recorded in
every run): built-in defaults < preset (a parent, then each preset that extends it) <
screen edits < ``--set`` on the command line.

Validation runs before anything heavy. Every problem is a ``PresetError`` whose message
is one line naming the file (or ``--set``), the table and key, and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import enum
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULTS_SOURCE = "fttui default"
EDIT_SOURCE = "screen edit"
CLI_SOURCE = "--set"
TABLES = ("model", "dataset", "metrics", "training", "watchdog")
# Top-level keys of a preset file. `[results]` is what a results file adds; it is
# read by `fttui runs`/the app and ignored when the file is run as a preset.
TOP_LEVEL_KEYS = ("name", "description", "extends", *TABLES, "results")
DATA_FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")
EXTENSION_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
# TrainingArguments fields fttui owns: each run gets its own folder and the UI owns the terminal.
ENGINE_OWNED_TRAINING = {
    "output_dir": "each run gets its own folder; use --output-dir on the command line",
    "disable_tqdm": "fttui replaces the Trainer's progress bars with its own display",
    "report_to": None,  # allowed, defaulted to "none"
}


class PresetError(Exception):
    """Bad preset input. ``str(err)`` is the one-line message shown to the user."""

    def __init__(self, source: str, message: str, key: str | None = None):
        self.source = source
        self.key = key
        self.message = message
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key + ': ' if key else ''}{message}")


@dataclass(frozen=True)
class KeySpec:
    kind: str  # "str", "int", "float", "bool", "str_list", "choice", "files", "columns"
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False


MODEL_KEYS: dict[str, KeySpec] = {
    "checkpoint": KeySpec("str", required=True, help="hub id (bert-base-uncased) or a local folder"),
    "revision": KeySpec("str", help="hub branch, tag or commit"),
    "trust_remote_code": KeySpec(
        "bool", False, help="run model code shipped with the checkpoint (off unless set here)"
    ),
}

DATASET_KEYS: dict[str, KeySpec] = {
    "hub_id": KeySpec("str", help="dataset on the hub, e.g. glue"),
    "config": KeySpec("str", help="hub dataset configuration, e.g. mrpc"),
    "files": KeySpec("files", help="local files: a path, or a table split = path(s)"),
    "format": KeySpec("choice", choices=DATA_FORMATS, help="file format; inferred from the extension"),
    "text_columns": KeySpec("columns", help="one text column, or two for sentence pairs"),
    "label_column": KeySpec("str", "label", help="column holding the label"),
    "train_split": KeySpec("str", "train", help="split to train on"),
    "eval_split": KeySpec("str", help="split to evaluate on"),
    "eval_fraction": KeySpec("float", help="carve this share of train off for evaluation"),
    "split_seed": KeySpec("int", 42, help="seed of the carved split"),
    "max_length": KeySpec("int", help="truncate inputs to this many tokens (default: the model's limit)"),
    "labels": KeySpec("str_list", help="label names in id order (string labels)"),
    "task": KeySpec(
        "choice", "auto", choices=("auto", "classification", "regression"), help="auto: from the label type"
    ),
    "max_train_samples": KeySpec("int", help="use only the first N training examples"),
    "max_eval_samples": KeySpec("int", help="use only the first N evaluation examples"),
}

METRICS_KEYS: dict[str, KeySpec] = {
    "load": KeySpec(
        "str_list", help='what evaluate loads: ["glue:mrpc"] or ["accuracy", "f1"] (name or name:config)'
    ),
    "average": KeySpec(
        "choice", choices=("binary", "macro", "micro", "weighted"), help="averaging of f1/precision/recall"
    ),
    "offline_fallback": KeySpec(
        "bool", True, help="use fttui's shipped metric module when evaluate cannot reach the hub"
    ),
    "trust_remote_code": KeySpec(
        "bool",
        False,
        help="allow metric scripts from outside evaluate's own set (community ids, local .py files)",
    ),
}

WATCHDOG_KEYS: dict[str, KeySpec] = {
    "on_nan": KeySpec("choice", "warn", choices=("warn", "stop"), help="loss NaN/inf: warn, or stop"),
    "on_zero_loss": KeySpec("choice", "warn", choices=("warn", "stop"), help="loss stuck at exactly 0"),
    "zero_loss_steps": KeySpec("int", 20, help="steps of exactly-zero loss before it counts as stuck"),
    "on_grad_explosion": KeySpec("choice", "warn", choices=("warn", "stop"), help="gradient norm too large"),
    "grad_norm_limit": KeySpec("float", 1.0e4, help="gradient norm that counts as exploding"),
}

TABLE_SPECS: dict[str, dict[str, KeySpec]] = {
    "model": MODEL_KEYS,
    "dataset": DATASET_KEYS,
    "metrics": METRICS_KEYS,
    "watchdog": WATCHDOG_KEYS,
}

# fttui's own defaults for TrainingArguments, where transformers' defaults do not suit a
# short interactive run (logging_steps=500 would log no loss at all on a small dataset).
TRAINING_DEFAULTS: dict[str, Any] = {
    "logging_strategy": "steps",
    "logging_steps": 10,
    "save_strategy": "epoch",
    "save_total_limit": 2,
    "report_to": "none",
    "seed": 42,
}


@dataclass
class Preset:
    """A resolved, validated preset: what a run will do, and where each value came from."""

    name: str
    description: str
    source: str
    model: dict[str, Any]
    dataset: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    watchdog: dict[str, Any]
    provenance: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The effective preset as TOML-ready data: no ``extends``, every value spelled out."""
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        for table in TABLES:
            out[table] = copy.deepcopy(getattr(self, table))
        return out

    @property
    def has_eval(self) -> bool:
        return bool(self.dataset.get("eval_split") or self.dataset.get("eval_fraction"))


# -- locating and reading files -------------------------------------------------------------


def builtin_presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(paths.BUILTIN_PRESETS.glob("*.toml"))}


def user_presets() -> dict[str, Path]:
    folder = paths.user_presets_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def find_preset(ref: str, relative_to: Path | None = None) -> Path:
    """A preset name (user presets shadow built-ins) or a path to a TOML file."""
    candidate = Path(ref).expanduser()
    if relative_to is not None and not candidate.is_absolute():
        local = relative_to / candidate
        if local.is_file():
            return local
    if candidate.suffix == ".toml" or candidate.is_file() or "/" in ref:
        if candidate.is_file():
            return candidate
        raise PresetError(ref, "no such preset file")
    found = user_presets().get(ref) or builtin_presets().get(ref)
    if found is None:
        names = sorted(set(builtin_presets()) | set(user_presets()))
        close = difflib.get_close_matches(ref, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PresetError(ref, f"unknown preset{hint} (known: {', '.join(names)}; or give a .toml path)")
    return found


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        # utf-8-sig: editors on Windows start files with a byte-order mark TOML does not allow.
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PresetError(
            _display_path(Path(path)),
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(_display_path(Path(path)), f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise PresetError(_display_path(Path(path)), f"cannot read: {exc.strerror}") from None


def describe(path: Path) -> str:
    """A preset's one-line description, without resolving or validating it."""
    try:
        return str(read_toml(path).get("description", "")).strip().splitlines()[0]
    except (PresetError, IndexError):
        return ""


# -- layering -------------------------------------------------------------------------------


def _closest(key: str, valid: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def _check_shape(data: dict[str, Any], source: str) -> None:
    for key, value in data.items():
        if key not in TOP_LEVEL_KEYS:
            if isinstance(value, dict):
                match = difflib.get_close_matches(key, TABLES, n=1, cutoff=0.5)
                hint = f"; did you mean [{match[0]}]?" if match else f" (tables: {', '.join(TABLES)})"
                raise PresetError(source, f"unknown table{hint}", key=f"[{key}]")
            raise PresetError(source, f"unknown top-level key{_closest(key, TOP_LEVEL_KEYS)}", key=key)
        if key in TABLES and not isinstance(value, dict):
            raise PresetError(source, f"expected a table [{key}], got {_kind(value)}", key=key)
        if key in ("name", "description", "extends") and not isinstance(value, str):
            raise PresetError(source, f"expected a string, got {_kind(value)}", key=key)
    for table, spec in TABLE_SPECS.items():
        for key in data.get(table, {}):
            if key not in spec:
                raise PresetError(source, f"unknown key{_closest(key, spec)}", key=f"[{table}] {key}")


def _resolve_local_paths(data: dict[str, Any], base: Path) -> None:
    """Relative paths in a preset are relative to the preset file, wherever fttui runs."""
    dataset = data.get("dataset", {})
    files = dataset.get("files")

    def fix(p: Any) -> Any:
        if not p:
            return p  # "" clears an inherited value; it is not the preset's own folder
        if isinstance(p, str) and not p.startswith("demo:") and not Path(p).expanduser().is_absolute():
            return str((base / p).resolve())
        return str(Path(p).expanduser()) if isinstance(p, str) and not p.startswith("demo:") else p

    if isinstance(files, str):
        dataset["files"] = fix(files)
    elif isinstance(files, list):
        dataset["files"] = [fix(p) for p in files]
    elif isinstance(files, dict):
        dataset["files"] = {
            k: [fix(p) for p in v] if isinstance(v, list) else fix(v) for k, v in files.items()
        }
    model = data.get("model", {})
    ckpt = model.get("checkpoint")
    if isinstance(ckpt, str) and ckpt and (ckpt.startswith((".", "~", "/")) or (base / ckpt).is_dir()):
        model["checkpoint"] = str((base / Path(ckpt).expanduser()).resolve())


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[str, dict[str, Any]]]:
    """The preset and its ancestors, base first, each as (source label, data)."""
    shown = path
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(p.stem for p in (*seen, path))
        raise PresetError(_display_path(shown), f"loops back on itself ({chain})", key="extends")
    source = _display_path(shown)
    data = read_toml(shown)
    _check_shape(data, source)
    data.pop("results", None)
    _resolve_local_paths(data, path.parent)
    parent = data.pop("extends", None)
    chain: list[tuple[str, dict[str, Any]]] = []
    if parent:
        try:
            parent_path = find_preset(parent, relative_to=path.parent)
        except PresetError as exc:
            message = exc.message.replace("unknown preset", f"unknown preset '{parent}'", 1)
            raise PresetError(source, message, key="extends") from None
        if parent_path.resolve() == path and parent in builtin_presets():
            # A user preset that shadows a built-in and extends it by name means the built-in.
            parent_path = builtin_presets()[parent]
        chain = _load_chain(parent_path, (*seen, path))
    chain.append((source, data))
    return chain


def _display_path(path: Path) -> str:
    if path.resolve().parent == paths.BUILTIN_PRESETS:
        return f"{path.stem} (built-in preset)"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _merge(into: dict[str, Any], layer: dict[str, Any], source: str, provenance: dict[str, str]) -> None:
    for key, value in layer.items():
        if key in TABLES:
            table = into.setdefault(key, {})
            for sub, subvalue in value.items():
                table[sub] = copy.deepcopy(subvalue)
                provenance[f"{key}.{sub}"] = source
        else:
            into[key] = value
            provenance[key] = source


def parse_override(text: str) -> tuple[str, str, Any]:
    """``training.learning_rate=3e-5`` -> ("training", "learning_rate", 3e-05).

    The value is read as TOML (numbers, booleans, lists, quoted strings); anything that is
    not valid TOML is taken as a bare string, so ``model.checkpoint=bert-base-cased`` works.
    """
    source = f"--set {text}"
    if "=" not in text:
        raise PresetError(source, "expected TABLE.KEY=VALUE, e.g. training.learning_rate=3e-5")
    dotted, raw = text.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise PresetError(source, "expected TABLE.KEY=VALUE, e.g. training.learning_rate=3e-5")
    table, key = parts
    if table not in TABLES:
        raise PresetError(
            source, f"unknown table '{table}'{_closest(table, TABLES)} (tables: {', '.join(TABLES)})"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return table, key, value


def resolve(
    ref: str | Path,
    overrides: typing.Sequence[str] = (),
    edit_overrides: typing.Sequence[str] = (),
    *,
    check_training: bool = True,
) -> Preset:
    """Load a preset by name or path, apply screen edits and ``--set`` overrides, and validate it.

    Both kinds of override are ``TABLE.KEY=VALUE`` strings; the app passes its edits as
    ``edit_overrides`` so that provenance records them as edits, below ``--set``.
    """
    path = find_preset(str(ref))
    chain = _load_chain(path)
    provenance: dict[str, str] = {}
    merged: dict[str, Any] = {}
    # A name belongs to its own file: a preset that extends another does not inherit it.
    own_name = chain[-1][1].get("name")
    for source, data in chain:
        _merge(merged, {k: v for k, v in data.items() if k != "name"}, source, provenance)
    for text in edit_overrides:
        table, key, value = parse_override(text)
        layer = {table: {key: value}}
        _check_shape(layer, EDIT_SOURCE)
        if table in ("dataset", "model"):
            _resolve_local_paths(layer, Path.cwd())
        _merge(merged, layer, EDIT_SOURCE, provenance)
    for text in overrides:
        table, key, value = parse_override(text)
        layer = {table: {key: value}}
        _check_shape(layer, f"--set {text}")
        if table in ("dataset", "model"):
            _resolve_local_paths(layer, Path.cwd())
        _merge(merged, layer, f"{CLI_SOURCE} {text}", provenance)

    name = own_name or path.stem
    preset = Preset(
        name=name,
        description=str(merged.get("description", "")),
        source=_display_path(path),
        model=dict(merged.get("model", {})),
        dataset=dict(merged.get("dataset", {})),
        metrics=dict(merged.get("metrics", {})),
        training=dict(merged.get("training", {})),
        watchdog=dict(merged.get("watchdog", {})),
        provenance=provenance,
    )
    _apply_defaults(preset)
    validate(preset, check_training=check_training)
    return preset


def _apply_defaults(preset: Preset) -> None:
    for table, spec in TABLE_SPECS.items():
        values = getattr(preset, table)
        for key, ks in spec.items():
            if key not in values and ks.default is not None:
                values[key] = ks.default
                preset.provenance[f"{table}.{key}"] = DEFAULTS_SOURCE
    defaults = dict(TRAINING_DEFAULTS)
    # The course's rhythm: evaluate (and save) once per epoch whenever there is something to evaluate.
    defaults["eval_strategy"] = "epoch" if preset.has_eval else "no"
    for key, value in defaults.items():
        if key not in preset.training:
            preset.training[key] = value
            preset.provenance[f"training.{key}"] = DEFAULTS_SOURCE


# -- validation -------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f'"{value}" (a string)'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _src(preset: Preset, table: str, key: str) -> str:
    return preset.provenance.get(f"{table}.{key}", preset.source)


def source_of(preset: Preset, table: str, key: str) -> str:
    """Where the value of ``[table] key`` came from: a preset file, a parent, an edit, a ``--set``."""
    origin = _src(preset, table, key)
    return preset.source if origin == DEFAULTS_SOURCE else origin


def attributed(preset: Preset, exc: PresetError) -> PresetError:
    """``exc`` naming where its key's value came from, when it was found late (loading data or a model).

    Loaders only know the preset; a bad ``--set model.checkpoint=...`` should be named as such.
    """
    match = re.match(r"\[(\w+)\] (\w+)", exc.key or "")
    if exc.source != preset.source or not match:
        return exc
    origin = source_of(preset, match[1], match[2])
    return exc if origin == exc.source else PresetError(origin, exc.message, key=exc.key)


def _fail(preset: Preset, table: str, key: str, message: str) -> typing.NoReturn:
    raise PresetError(_src(preset, table, key), message, key=f"[{table}] {key}")


def _check_spec_value(preset: Preset, table: str, key: str, value: Any, ks: KeySpec) -> None:
    bad = None
    if ks.kind == "str" and not isinstance(value, str):
        bad = "expected a string"
    elif ks.kind == "bool" and not isinstance(value, bool):
        bad = "expected true or false"
    elif ks.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        bad = "expected an integer"
    elif ks.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        bad = "expected a number"
    elif ks.kind == "float" and not math.isfinite(value):
        bad = "expected a finite number"
    elif ks.kind == "int" and not -MAX_INT <= value <= MAX_INT:
        bad = "expected a smaller integer"
    elif ks.kind == "str_list" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        bad = "expected a list of strings"
    elif ks.kind == "choice" and value not in ks.choices:
        bad = f"expected one of {', '.join(ks.choices)}"
    elif ks.kind == "columns":
        cols = [value] if isinstance(value, str) else value
        if not (isinstance(cols, list) and all(isinstance(c, str) and c for c in cols)) or len(cols) not in (
            1,
            2,
        ):
            bad = (
                'expected one column name or a list of two (a sentence pair), e.g. ["sentence1", "sentence2"]'
            )
    elif ks.kind == "files":
        ok_path = lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))  # noqa: E731
        if not (
            ok_path(value) or (isinstance(value, dict) and value and all(ok_path(v) for v in value.values()))
        ):
            bad = 'expected a path, a list of paths, or a table like { train = "train.csv", validation = "dev.csv" }'
    if bad:
        hint = _closest(value, ks.choices) if ks.kind == "choice" and isinstance(value, str) else ""
        _fail(preset, table, key, f"{bad}, got {_kind(value)}{hint}")


def validate(preset: Preset, *, check_training: bool = True) -> None:
    """Everything that can be checked without loading data or weights."""
    for table, spec in TABLE_SPECS.items():
        values = getattr(preset, table)
        for key, ks in spec.items():
            if key in values:
                _check_spec_value(preset, table, key, values[key], ks)
            elif ks.required:
                raise PresetError(preset.source, f"missing; {ks.help}", key=f"[{table}] {key}")

    ds = preset.dataset
    if isinstance(ds.get("text_columns"), str):
        ds["text_columns"] = [ds["text_columns"]]
    # An empty value clears an inherited one: edits cannot delete keys, only blank them.
    has_hub, has_files = bool(ds.get("hub_id")), bool(ds.get("files"))
    if has_hub == has_files:
        which = "both are set" if has_hub else "neither is set"
        raise PresetError(
            _src(preset, "dataset", "hub_id" if has_hub else "files"),
            f"set exactly one of hub_id (a hub dataset) or files (local files); {which}",
            key="[dataset]",
        )
    if "text_columns" not in ds:
        raise PresetError(
            preset.source,
            'missing; name the text column(s), e.g. ["sentence1", "sentence2"]',
            key="[dataset] text_columns",
        )
    label = ds.get("label_column", "label")
    if isinstance(ds.get("text_columns"), list) and label in ds["text_columns"]:
        # The model would read the answer in its input: perfect scores that mean nothing.
        _fail(
            preset,
            "dataset",
            "text_columns",
            f"'{label}' is also the label column; the model would read the answer in its input",
        )
    if has_files:
        _check_files(preset)
    if "eval_fraction" in ds:
        if not 0.0 < ds["eval_fraction"] < 1.0:
            _fail(
                preset,
                "dataset",
                "eval_fraction",
                f"expected a number between 0 and 1, got {ds['eval_fraction']}",
            )
        if ds.get("eval_split"):
            _fail(preset, "dataset", "eval_fraction", "set eval_split or eval_fraction, not both")
    if not preset.model.get("checkpoint", "x"):
        _fail(
            preset,
            "model",
            "checkpoint",
            "empty; expected a hub id (e.g. bert-base-uncased) or a local folder",
        )
    if "split_seed" in ds and not 0 <= ds["split_seed"] <= MAX_SEED:
        _fail(
            preset, "dataset", "split_seed", f"expected 0 to {MAX_SEED} (2**32 - 1), got {ds['split_seed']}"
        )
    for key in ("max_length", "max_train_samples", "max_eval_samples", "zero_loss_steps"):
        table = "watchdog" if key == "zero_loss_steps" else "dataset"
        value = getattr(preset, table).get(key)
        if value is not None and value <= 0:
            _fail(preset, table, key, f"expected a positive integer, got {value}")
    if preset.watchdog.get("grad_norm_limit", 1) <= 0:
        _fail(preset, "watchdog", "grad_norm_limit", "expected a positive number")
    for spec in preset.metrics.get("load", []):
        if not spec or spec.count(":") > 1:
            _fail(preset, "metrics", "load", f'expected "name" or "name:config", got "{spec}"')
        # evaluate runs every metric as a script; its own (accuracy, glue, ...) are Hugging Face's,
        # an "owner/name" or a path is someone else's code.
        if "/" in spec and not preset.metrics.get("trust_remote_code"):
            _fail(
                preset,
                "metrics",
                "load",
                f'"{spec}" is a metric script from outside evaluate\'s own set; set [metrics] '
                "trust_remote_code = true if you trust its code",
            )
    if check_training:
        validate_training(preset)


def _check_files(preset: Preset) -> None:
    ds = preset.dataset
    files = ds["files"]
    mapping = files if isinstance(files, dict) else {ds.get("train_split", "train"): files}
    for split, value in mapping.items():
        for p in [value] if isinstance(value, str) else value:
            if p.startswith("demo:"):
                continue
            if not Path(p).is_file():
                _fail(preset, "dataset", "files", f"{split}: no such file: {p}")
            if "format" not in ds and Path(p).suffix.lower() not in EXTENSION_FORMATS:
                _fail(
                    preset,
                    "dataset",
                    "format",
                    f"cannot tell the format of {Path(p).name}; set format to one of {', '.join(DATA_FORMATS)}",
                )
    if isinstance(files, dict):
        train = ds.get("train_split", "train")
        if train not in files:
            _fail(
                preset,
                "dataset",
                "train_split",
                f"'{train}' is not one of the files' splits ({', '.join(files)})",
            )
        ev = ds.get("eval_split")
        if ev and ev not in files:
            _fail(
                preset,
                "dataset",
                "eval_split",
                f"'{ev}' is not one of the files' splits ({', '.join(files)})",
            )
    elif ds.get("eval_split"):
        _fail(
            preset,
            "dataset",
            "eval_split",
            "a single file has one split; use eval_fraction, or give files as a table of splits",
        )


# -- [training]: TrainingArguments fields verbatim -------------------------------------------------


@dataclass(frozen=True)
class TrainingField:
    name: str
    hint: Any
    default: Any
    help: str
    choices: tuple[str, ...] = ()


_FIELDS: dict[str, TrainingField] | None = None


def training_fields() -> dict[str, TrainingField]:
    """TrainingArguments' init fields with types, defaults and help (imports transformers)."""
    global _FIELDS
    if _FIELDS is None:
        import dataclasses

        from transformers import TrainingArguments

        hints = typing.get_type_hints(TrainingArguments)
        out = {}
        for f in dataclasses.fields(TrainingArguments):
            if not f.init or f.name.startswith("_"):
                continue
            default = f.default if f.default is not dataclasses.MISSING else None
            if isinstance(default, enum.Enum):
                default = default.value
            hint = hints.get(f.name, Any)
            out[f.name] = TrainingField(
                f.name, hint, default, " ".join(str(f.metadata.get("help", "")).split()), _enum_choices(hint)
            )
        _FIELDS = out
    return _FIELDS


def _union_args(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(hint)
    return (hint,)


def _enum_choices(hint: Any) -> tuple[str, ...]:
    for arg in _union_args(hint):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return tuple(str(e.value) for e in arg)
    return ()


def _accepts(value: Any, hint: Any) -> bool:
    args = _union_args(hint)
    if len(args) > 1:
        return any(_accepts(value, a) for a in args)
    if hint is Any:
        return True
    if hint is type(None):
        return False  # TOML has no null: leave the key out instead
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {e.value for e in hint}
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_accepts(v, item) for v in value)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    return False


def _expected(tf: TrainingField) -> str:
    if tf.choices:
        return f"one of {', '.join(tf.choices)}"
    names = []
    for arg in _union_args(tf.hint):
        if arg is bool:
            names.append("true or false")
        elif arg is int:
            names.append("an integer")
        elif arg is float:
            names.append("a number")
        elif arg is str:
            names.append("a string")
        elif typing.get_origin(arg) is list:
            names.append("a list")
        elif arg is dict or typing.get_origin(arg) is dict:
            names.append("a table")
    return " or ".join(dict.fromkeys(names)) or "a value this field accepts"


def check_training_value(key: str, value: Any) -> str | None:
    """Why ``value`` is wrong for TrainingArguments field ``key``; None when it is fine.

    Used by validation and by the arguments screen as the user types.
    """
    fields = training_fields()
    if key not in fields:
        if key in REMOVED_TRAINING:
            return f"removed in transformers 5; {REMOVED_TRAINING[key]}"
        return f"unknown key{_closest(key, fields)}"
    reason = ENGINE_OWNED_TRAINING.get(key)
    if reason:
        return f"not settable in a preset: {reason}"
    tf = fields[key]
    if tf.choices:
        # `IntervalStrategy | str` would take any string; only the enum's values work.
        if not (isinstance(value, str) and value in tf.choices) and not (
            _accepts(value, tf.hint) and not isinstance(value, str)
        ):
            hint = _closest(str(value), tf.choices) if isinstance(value, str) else ""
            return f"expected one of {', '.join(tf.choices)}, got {_kind(value)}{hint}"
        return None
    if not _accepts(value, tf.hint):
        return f"expected {_expected(tf)}, got {_kind(value)}"
    numbers = value if isinstance(value, list) else [value]
    for number in numbers:
        if isinstance(number, float) and not math.isfinite(number):
            return f"expected a finite number, got {number}"
        if isinstance(number, int) and not -MAX_INT <= number <= MAX_INT:
            return f"expected a smaller integer, got {number}"
    if key in ("seed", "data_seed") and isinstance(value, int) and not 0 <= value <= MAX_SEED:
        return f"expected 0 to {MAX_SEED} (2**32 - 1), got {value}"
    if key == "num_train_epochs" and isinstance(value, (int, float)) and value > MAX_EPOCHS:
        return f"expected at most {MAX_EPOCHS:,} epochs, got {value:g}; for a run bounded by steps, set max_steps"
    if key == "report_to":
        return _check_report_to(value)
    return None


def _check_report_to(value: Any) -> str | None:
    """Experiment trackers need their own package; without it the Trainer fails only at start."""
    from transformers.integrations import integration_utils

    known = integration_utils.INTEGRATION_TO_CALLBACK
    installed = set(integration_utils.get_available_reporting_integrations())
    for name in [value] if isinstance(value, str) else value:
        if name in ("none", "all"):
            continue
        if name not in known:
            hint = _closest(name, known) or f"; expected none, all, or one of {', '.join(known)}"
            return f"unknown tracker '{name}'{hint}"
        if name not in installed:
            package = name.replace("_", "-")
            return (
                f"'{name}' needs its package installed (pip install {package}), or set report_to = \"none\""
            )
    return None


# TrainingArguments fields that transformers 5 removed, and what replaces them: names
# from older tutorials, which the closest-name hint would match to something unrelated.
REMOVED_TRAINING = {
    "evaluation_strategy": "use eval_strategy",
    "no_cuda": "use use_cpu = true",
    "use_mps_device": "an Apple GPU (mps) is used when present; use_cpu = true keeps off it",
    "logging_dir": "fttui keeps logs in the run folder; TensorBoard reads TENSORBOARD_LOGGING_DIR",
    "overwrite_output_dir": "fttui gives every run a new folder; fttui resume continues one",
    "per_gpu_train_batch_size": "use per_device_train_batch_size",
    "per_gpu_eval_batch_size": "use per_device_eval_batch_size",
    "include_inputs_for_metrics": 'use include_for_metrics = ["inputs"]',
    "save_safetensors": "checkpoints are always saved as safetensors",
    "use_legacy_prediction_loop": "the prediction loop has one form now",
    "push_to_hub_token": "use hub_token",
}

# Beyond these, values overflow inside torch/numpy (a seed must fit 32 bits; an epoch count
# is multiplied into a step count) and fail mid-run instead of here.
MAX_INT = 2**63 - 1
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 100_000

POSITIVE_TRAINING = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
)


def validate_training(preset: Preset) -> None:
    t = preset.training
    fields = training_fields()
    for key, value in t.items():
        problem = check_training_value(key, value)
        if problem:
            _fail(preset, "training", key, problem)
        # transformers marks renamed fields in their help; they still work, until they do not.
        if fields[key].help.lower().startswith("deprecated"):
            message = f"{_src(preset, 'training', key)}: [training] {key}: {fields[key].help}"
            if message not in preset.warnings:
                preset.warnings.append(message)
    for key in POSITIVE_TRAINING:
        if key in t and t[key] <= 0:
            _fail(preset, "training", key, f"expected a positive integer, got {t[key]}")
    if t.get("learning_rate", 1) <= 0:
        _fail(preset, "training", "learning_rate", f"expected a positive number, got {t['learning_rate']}")
    if t.get("num_train_epochs", 1) <= 0 and t.get("max_steps", -1) <= 0:
        _fail(preset, "training", "num_train_epochs", "expected a positive number (or set max_steps)")

    evaluating = t.get("eval_strategy", "no") != "no"
    if evaluating and not preset.has_eval:
        emptied = ""
        if "eval_split" in preset.dataset:
            emptied = f' (eval_split = "" in {_src(preset, "dataset", "eval_split")})'
        _fail(
            preset,
            "training",
            "eval_strategy",
            f'"{t["eval_strategy"]}" needs an evaluation split{emptied}: set [dataset] eval_split or '
            'eval_fraction, or set eval_strategy = "no"',
        )
    if t.get("load_best_model_at_end"):
        save = t.get("save_strategy", "steps")
        ev = t.get("eval_strategy", "no")
        if not evaluating:
            _fail(
                preset,
                "training",
                "load_best_model_at_end",
                "needs evaluation: set eval_strategy to epoch or steps",
            )
        if save not in (ev, "best"):
            _fail(
                preset,
                "training",
                "load_best_model_at_end",
                f'needs save_strategy to match eval_strategy (save_strategy = "{save}", eval_strategy = "{ev}")',
            )
        if ev == "steps":
            save_steps, eval_steps = (
                t.get("save_steps", 500),
                t.get("eval_steps") or t.get("logging_steps", 500),
            )
            if save_steps % eval_steps:
                _fail(
                    preset,
                    "training",
                    "save_steps",
                    f"must be a multiple of eval_steps ({eval_steps}) for load_best_model_at_end, got {save_steps}",
                )
    if t.get("save_strategy") == "best":
        if not evaluating:
            _fail(
                preset,
                "training",
                "save_strategy",
                '"best" needs evaluation: set eval_strategy to epoch or steps',
            )
        if not t.get("metric_for_best_model"):
            _fail(
                preset,
                "training",
                "save_strategy",
                '"best" needs metric_for_best_model, the metric that decides (e.g. "accuracy" or "loss")',
            )
    if t.get("fp16") and t.get("bf16"):
        _fail(preset, "training", "bf16", "choose one of fp16 and bf16, not both")


def check_device(preset: Preset, *, cuda_available: bool, bf16_supported: bool) -> list[str]:
    """Checks that depend on the machine. Returns warnings; raises on what cannot work."""
    t = preset.training
    warnings = []
    on_cpu = t.get("use_cpu", False) or not cuda_available
    if t.get("bf16") and not t.get("use_cpu") and not (cuda_available and bf16_supported):
        what = "this GPU has no bfloat16 support" if cuda_available else "no GPU was found"
        _fail(
            preset,
            "training",
            "bf16",
            f"true needs a GPU with bfloat16 ({what}); remove it, or set use_cpu = true",
        )
    if t.get("fp16") and on_cpu:
        warnings.append(
            f"{_src(preset, 'training', 'fp16')}: [training] fp16 = true has no effect on a CPU: "
            "training runs in float32 (transformers does not say so)"
        )
    return warnings


def oom_retry_changes(preset: Preset) -> list[tuple[str, int, int]]:
    """(key, old, new) for retrying an out-of-memory run at the same effective batch size, half the memory."""
    t = preset.training
    # 8 and 1 are TrainingArguments' defaults, spelled out so the app needs no transformers import.
    bs = int(t.get("per_device_train_batch_size", 8))
    acc = int(t.get("gradient_accumulation_steps", 1))
    return [
        ("per_device_train_batch_size", bs, max(1, bs // 2)),
        ("gradient_accumulation_steps", acc, acc * 2),
    ]


def oom_retry_overrides(preset: Preset) -> list[str]:
    """The ``--set`` overrides that retry an out-of-memory run (see ``oom_retry_changes``)."""
    return [f"training.{key}={new}" for key, _, new in oom_retry_changes(preset)]
