"""Headless look-ups for the app's setup screens: a dataset's first rows and labels, token lengths, cached checkpoints.

Everything heavy (datasets, transformers, huggingface_hub) is imported inside the
functions, which the app calls from thread workers after its first paint. Each function
first settles online/offline mode (``hub.prepare``), as the engine does before a run.
"""

from __future__ import annotations

import collections
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import hub
from engine.config import PresetError
from engine.console import clip

PREVIEW_ROWS = 8
TOKEN_SAMPLE = 500
CELL_CHARS = 200

# Loaded datasets and tokenizers, by what they were loaded from: changing a column choice
# on the dataset screen must not reload the files.
_raw_cache: dict[str, Any] = {}
_tokenizer_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class DatasetPreview:
    """What the dataset screen shows: splits, columns, the first rows and the label distribution."""

    splits: dict[str, int]
    columns: list[str]
    text_candidates: list[str]
    rows: list[dict[str, str]]
    label_column: str
    task: str = ""
    label_names: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def num_labels(self) -> int:
        if self.task == "regression":
            return 1
        return len(self.label_names)


@dataclass(frozen=True)
class CachedCheckpoint:
    """A model repository in the local Hugging Face cache."""

    repo_id: str
    size_bytes: int
    revisions: int
    last_modified: float
    snapshot: str


def resolve_demo(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of a dataset or model table with ``demo:`` references turned into local paths (building them once)."""
    from engine import demo

    def refs(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [v for item in value.values() for v in refs(item)]
        if isinstance(value, list):
            return [v for item in value for v in refs(item)]
        return [value]

    if not any(demo.is_demo_ref(v) for key in ("files", "checkpoint") for v in refs(spec.get(key))):
        return dict(spec)
    root = demo.ensure_assets()

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return demo.resolve_ref(value, root) if demo.is_demo_ref(value) else value

    out = dict(spec)
    for key in ("files", "checkpoint"):
        if key in out:
            out[key] = fix(out[key])
    return out


def _source_key(ds: dict[str, Any]) -> str:
    keys = ("hub_id", "config", "revision", "files", "format")
    return repr([(k, ds.get(k)) for k in keys])


def load_dataset_cached(dataset: dict[str, Any], source: str) -> Any:
    """The preset's raw DatasetDict, loaded once per source (hub id + config, or files)."""
    from engine.data import load_raw

    hub.prepare()
    ds = resolve_demo(dataset)
    key = _source_key(ds)
    with _cache_lock:
        if key not in _raw_cache:
            _raw_cache[key] = load_raw(ds, source)
        return _raw_cache[key]


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return clip(text, CELL_CHARS)


def dataset_preview(dataset: dict[str, Any], source: str = "", rows: int = PREVIEW_ROWS) -> DatasetPreview:
    """Load the dataset a preset names and describe it. Raises ``PresetError`` when it cannot be loaded.

    Problems with the chosen columns or labels do not raise: they come back in ``problems``
    so the screen can show the real columns next to what is wrong.
    """
    from engine.data import DataError, settle_labels

    raw = load_dataset_cached(dataset, source)
    train_name = dataset.get("train_split", "train")
    if train_name not in raw:
        raise PresetError(
            source, f"no split '{train_name}'; the dataset has: {', '.join(raw)}", key="[dataset] train_split"
        )
    train = raw[train_name]
    columns = list(train.column_names)
    head = train.select(range(min(rows, len(train))))
    first_rows = [{c: _short(row[c]) for c in columns} for row in head]
    text_candidates = [
        c for c in columns if getattr(train.features[c], "dtype", "") in ("string", "large_string")
    ]
    problems: list[str] = []
    for col in dataset.get("text_columns") or []:
        if col not in columns:
            problems.append(
                f"text column '{col}' is not in split '{train_name}' (columns: {', '.join(columns)})"
            )
    label_column = dataset.get("label_column", "label")
    task, names, counts = "", [], {}
    if label_column not in columns:
        problems.append(f"label column '{label_column}' is not in split '{train_name}'")
    else:
        try:
            encoded, _, info = settle_labels(train, None, dataset, source)
        except DataError as exc:
            problems.append(exc.message)
        else:
            task, names = info.task, list(info.names)
            if info.task == "classification":
                tally = collections.Counter(encoded["label"])
                counts = {name: tally.get(i, 0) for i, name in enumerate(names)}
    return DatasetPreview(
        splits={name: len(split) for name, split in raw.items()},
        columns=columns,
        text_candidates=text_candidates,
        rows=first_rows,
        label_column=label_column,
        task=task,
        label_names=names,
        label_counts=counts,
        problems=problems,
    )


def load_tokenizer_cached(model: dict[str, Any], source: str) -> Any:
    from engine.model_loading import load_tokenizer

    hub.prepare()
    spec = resolve_demo(model)
    key = repr((spec.get("checkpoint"), spec.get("revision"), spec.get("trust_remote_code")))
    with _cache_lock:
        if key not in _tokenizer_cache:
            _tokenizer_cache[key] = load_tokenizer(spec, source)
        return _tokenizer_cache[key]


def token_lengths(
    dataset: dict[str, Any], model: dict[str, Any], source: str = "", sample: int = TOKEN_SAMPLE
) -> dict[str, float]:
    """Token-length statistics of the first ``sample`` training examples with the model's tokenizer.

    ``truncated`` counts the examples longer than ``max_length`` (or the model's limit):
    what truncation would cut. Raises ``PresetError`` when data or tokenizer cannot load.
    """
    from engine.data import token_length_stats

    raw = load_dataset_cached(dataset, source)
    train = raw[dataset.get("train_split", "train")]
    columns = list(dataset.get("text_columns") or [])
    missing = [c for c in columns if c not in train.column_names]
    if not columns or missing:
        raise PresetError(
            source, f"choose text columns first (missing: {', '.join(missing) or 'none chosen'})"
        )
    tokenizer = load_tokenizer_cached(model, source)
    head = train.select(range(min(sample, len(train))))
    texts = [["" if v is None else str(v) for v in head[c]] for c in columns]
    return token_length_stats(texts, tokenizer, dataset.get("max_length"))


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = (
        os.environ.get("HF_HOME")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )
    return Path(home).expanduser() / "hub"


def cached_checkpoints(cache_dir: Path | None = None) -> list[CachedCheckpoint]:
    """Model repositories already in the local Hugging Face cache, most recently changed first."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    folder = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    try:
        info = scan_cache_dir(folder)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
        found.append(
            CachedCheckpoint(
                repo_id=repo.repo_id,
                size_bytes=int(repo.size_on_disk),
                revisions=len(revisions),
                last_modified=float(repo.last_modified),
                snapshot=str(revisions[0].snapshot_path) if revisions else "",
            )
        )
    return sorted(found, key=lambda c: (-c.last_modified, c.repo_id))
