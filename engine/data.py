"""Load a preset's dataset (hub or local files), settle its labels, carve an eval split, tokenize."""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import hub
from engine.config import EXTENSION_FORMATS, PresetError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict


class DataError(PresetError):
    """A dataset that does not fit the preset: a missing column, an unusable label, no such split."""


@dataclass
class LabelInfo:
    task: str  # "classification" or "regression"
    names: list[str] = field(default_factory=list)

    @property
    def num_labels(self) -> int:
        return 1 if self.task == "regression" else len(self.names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


@dataclass
class PreparedData:
    train: Dataset
    eval: Dataset | None
    labels: LabelInfo
    text_columns: list[str]
    eval_source: str
    eval_texts: list[str] = field(default_factory=list)
    eval_label_ids: list[Any] = field(default_factory=list)
    truncated_train: int = 0
    warnings: list[str] = field(default_factory=list)


def _err(source: str, key: str, message: str) -> DataError:
    return DataError(source, message, key=f"[dataset] {key}")


def _split_files(ds: dict[str, Any]) -> dict[str, list[str]]:
    files = ds["files"]
    if isinstance(files, dict):
        return {split: [v] if isinstance(v, str) else list(v) for split, v in files.items()}
    return {ds.get("train_split", "train"): [files] if isinstance(files, str) else list(files)}


def _file_format(ds: dict[str, Any], files: dict[str, list[str]]) -> str:
    if ds.get("format"):
        return ds["format"]
    first = next(iter(files.values()))[0]
    return EXTENSION_FORMATS[Path(first).suffix.lower()]


def load_raw(ds: dict[str, Any], source: str) -> DatasetDict:
    """The preset's dataset as a DatasetDict, from the hub or local files."""
    import datasets

    datasets.disable_progress_bars()
    if ds.get("hub_id"):
        try:
            with _datasets_log():
                raw = datasets.load_dataset(ds["hub_id"], ds.get("config"), revision=ds.get("revision"))
        except Exception as exc:  # datasets raises a zoo of types for "not reachable / not found"
            if not hub.reachable():
                raise DataError(
                    source, hub.unreachable_dataset_message(ds["hub_id"], ds.get("config"))
                ) from None
            raise _err(
                source, "hub_id", f"cannot load '{ds['hub_id']}': {_one_line(_root_cause(exc))}"
            ) from None
    else:
        files = _split_files(ds)
        fmt = _file_format(ds, files)
        kwargs: dict[str, Any] = {}
        if fmt in ("csv", "tsv"):
            builder = "csv"
            if fmt == "tsv":
                # GLUE TSVs carry bare quotes inside sentences; default quoting would eat them.
                kwargs.update(delimiter="\t", quoting=csv.QUOTE_NONE)
        elif fmt in ("json", "jsonl"):
            builder = "json"
        else:
            builder = "parquet"
        try:
            with _datasets_log() as logged:
                raw = datasets.load_dataset(builder, data_files=files, **kwargs)
        except Exception as exc:
            raise _err(source, "files", _read_failure(exc, fmt, files, logged)) from None
    # Files saved by Excel and GLUE's MRPC start with a byte-order mark that sticks to the first header.
    for split in raw:
        renames = {
            c: c.lstrip("\ufeff").strip() for c in raw[split].column_names if c != c.lstrip("\ufeff").strip()
        }
        if renames:
            raw[split] = raw[split].rename_columns(renames)
    return raw


# datasets logs the file a reader failed on ("Failed to read file '...' with error ...") and then
# raises a DatasetGenerationError that names neither the file nor the cause.
_LOGGED_FILE = re.compile(r"Failed to (?:read|load \w+ from) file '(?P<file>.+?)' with error")
_NO_DATA_SPLIT = re.compile(r'Instruction "(?P<split>[^"]+)" corresponds to no data')


@contextlib.contextmanager
def _datasets_log() -> Iterator[list[logging.LogRecord]]:
    """Hold back what datasets logs during a load: on failure its lines would stray onto the terminal
    beside the one-line error that already says it; on success they are passed on unchanged."""
    logger = logging.getLogger("datasets")
    records: list[logging.LogRecord] = []
    holder = logging.Handler()
    holder.emit = records.append  # type: ignore[method-assign]
    saved = logger.handlers[:], logger.propagate
    logger.handlers, logger.propagate = [holder], False
    try:
        yield records
    except BaseException:
        logger.handlers, logger.propagate = saved
        raise
    logger.handlers, logger.propagate = saved
    for record in records:
        logger.handle(record)


def _root_cause(exc: BaseException) -> BaseException:
    """The exception that says what went wrong, under the wrappers datasets raises around it."""
    from datasets.exceptions import DatasetGenerationError

    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__
        # Only a wrapper's context is its cause; elsewhere the context is an earlier, abandoned
        # attempt (pandas' JSON fallback after pyarrow's parse error, pyarrow's UTF-8 check).
        if inner is None and isinstance(exc, DatasetGenerationError) and not exc.__suppress_context__:
            inner = exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _read_failure(
    exc: BaseException, fmt: str, files: dict[str, list[str]], logged: list[logging.LogRecord]
) -> str:
    """One line: the file that could not be read (where known) and why."""
    cause = _root_cause(exc)
    text = _one_line(cause)
    every = [f for paths in files.values() for f in paths]
    culprits: list[str] = []
    for record in logged:
        found = _LOGGED_FILE.search(record.getMessage())
        if found:
            culprits = [_preset_path(found.group("file"), every)]
            break
    no_data = _NO_DATA_SPLIT.search(text)
    if not culprits and no_data and no_data.group("split") in files:
        culprits = files[no_data.group("split")]
    if not culprits and type(cause).__name__ == "EmptyDataError":  # pandas: nothing at all to parse
        culprits = [f for f in every if _is_empty(f)]
    if not culprits and isinstance(cause, StopIteration):
        # The json reader infers the columns from the first split's first table: there was none.
        culprits = next(iter(files.values()))
    if not culprits and len(every) == 1:
        culprits = every
    where = "".join(f"{name}: " for name in [", ".join(_short_names(culprits, every))] if name)
    if no_data or isinstance(cause, StopIteration) or type(cause).__name__ == "EmptyDataError":
        return f"{where}no rows"
    if isinstance(cause, UnicodeDecodeError):
        text += " (save the file as UTF-8)"
    return f"{where}cannot read as {fmt}: {text}"


def _is_empty(path: str) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def _preset_path(logged: str, every: list[str]) -> str:
    """The preset's spelling of a path datasets logged (it may log the resolved one)."""
    for path in every:
        if path == logged or Path(path).resolve() == Path(logged).resolve():
            return path
    return logged


def _short_names(paths: list[str], every: list[str]) -> list[str]:
    """File names alone, unless two files of the preset share a name."""
    names = [Path(p).name for p in every]
    return [Path(p).name if names.count(Path(p).name) == 1 else p for p in paths]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


def _check_columns(split: str, data: Dataset, columns: list[str], source: str, key: str) -> None:
    for col in columns:
        if col not in data.column_names:
            raise _err(
                source,
                key,
                f"column '{col}' not found in split '{split}'; its columns are: {', '.join(data.column_names)}",
            )


def settle_labels(
    train: Dataset, evald: Dataset | None, ds: dict[str, Any], source: str
) -> tuple[Dataset, Dataset | None, LabelInfo]:
    """Decide the task and label names, and store labels as ids (or floats) in a ``label`` column."""
    from datasets import ClassLabel, Value

    col = ds.get("label_column", "label")
    task = ds.get("task", "auto")
    feature = train.features[col]
    values = list(train[col]) + (list(evald[col]) if evald is not None else [])
    if any(v is None for v in values):
        raise _err(source, "label_column", f"column '{col}' has empty labels; every example needs one")

    to_id = None  # how a raw label value becomes a class id, when it is not one already
    if isinstance(feature, ClassLabel) and task != "regression":
        names = list(feature.names)
        bad = [v for v in values if not 0 <= v < len(names)]
        if bad:
            raise _err(
                source,
                "label_column",
                f"label {bad[0]} in '{col}' is outside the {len(names)} classes (unlabelled test rows?)",
            )
        info = LabelInfo("classification", names)
    else:
        dtype = getattr(feature, "dtype", "")
        is_float = dtype.startswith("float")
        is_string = dtype in ("string", "large_string")
        if task == "regression" or (task == "auto" and is_float):
            if is_string:
                raise _err(source, "task", f"regression needs numeric labels; '{col}' holds text")
            info = LabelInfo("regression")
        elif is_string:
            info = LabelInfo("classification", _string_label_names(values, ds, source))
            index = info.label2id
            to_id = index.__getitem__
        elif is_float and not all(float(v).is_integer() for v in values):
            raise _err(
                source, "task", f"classification needs whole-number or text labels; '{col}' holds fractions"
            )
        else:
            ints = sorted({int(v) for v in values})
            if ints[0] < 0:
                raise _err(
                    source,
                    "label_column",
                    f"label {ints[0]} in '{col}' is negative (unlabelled test rows?); labels must be 0 or more",
                )
            if ds.get("labels"):
                if len(ds["labels"]) <= ints[-1]:
                    raise _err(
                        source, "labels", f"{len(ds['labels'])} names given but labels go up to {ints[-1]}"
                    )
                names = list(ds["labels"])
                to_id = int
            elif ints == list(range(len(ints))):
                names = [str(i) for i in ints]
                to_id = int
            else:
                # Sparse ids (1-5 stars): number the classes in numeric order, keep the values as names.
                names = [str(i) for i in ints]
                sparse = {v: i for i, v in enumerate(ints)}
                to_id = lambda v: sparse[int(v)]  # noqa: E731
            info = LabelInfo("classification", names)

    if info.task == "classification" and len(info.names) < 2:
        raise _err(source, "label_column", f"'{col}' has a single class ({info.names[0]}); need at least two")

    def encode(dataset: Dataset) -> Dataset:
        if col != "label":
            if "label" in dataset.column_names:
                dataset = dataset.remove_columns("label")
            dataset = dataset.rename_column(col, "label")
        if info.task == "regression":
            return dataset.cast_column("label", Value("float32"))
        if to_id is not None:
            dataset = dataset.map(lambda b: {"label": [to_id(v) for v in b["label"]]}, batched=True)
        return dataset.cast_column("label", ClassLabel(names=info.names))

    return encode(train), (encode(evald) if evald is not None else None), info


def _string_label_names(values: list[Any], ds: dict[str, Any], source: str) -> list[str]:
    found = sorted({str(v) for v in values})
    if ds.get("labels"):
        names = list(ds["labels"])
        missing = [v for v in found if v not in names]
        if missing:
            raise _err(
                source, "labels", f"label '{missing[0]}' appears in the data but not in labels = {names}"
            )
        return names
    return found


def prepare(ds: dict[str, Any], source: str, tokenizer: Any) -> PreparedData:
    """Everything the Trainer needs from the data side."""
    raw = load_raw(ds, source)
    return prepare_loaded(raw, ds, source, tokenizer)


def load_splits(raw: DatasetDict, ds: dict[str, Any], source: str) -> tuple[Dataset, Dataset | None, str]:
    """The train split and the eval split (named, carved from train, or none)."""
    train_name = ds.get("train_split", "train")
    if train_name not in raw:
        raise _err(source, "train_split", f"no split '{train_name}'; the dataset has: {', '.join(raw)}")
    train = raw[train_name]
    text_columns = list(ds["text_columns"])
    _check_columns(train_name, train, text_columns, source, "text_columns")
    _check_columns(train_name, train, [ds.get("label_column", "label")], source, "label_column")
    evald, eval_source = None, "none"
    if ds.get("eval_split"):
        name = ds["eval_split"]
        if name not in raw:
            raise _err(source, "eval_split", f"no split '{name}'; the dataset has: {', '.join(raw)}")
        evald, eval_source = raw[name], f"split '{name}'"
        _check_columns(name, evald, text_columns, source, "text_columns")
        _check_columns(name, evald, [ds.get("label_column", "label")], source, "label_column")
    return train, evald, eval_source


def prepare_loaded(raw: DatasetDict, ds: dict[str, Any], source: str, tokenizer: Any) -> PreparedData:
    train, evald, eval_source = load_splits(raw, ds, source)
    text_columns = list(ds["text_columns"])
    train, evald, labels = settle_labels(train, evald, ds, source)
    warnings: list[str] = []

    fraction = ds.get("eval_fraction")
    if fraction:
        # datasets holds out ceil(share x rows); with nothing left to train on it says only
        # "the resulting train set will be empty".
        if math.ceil(len(train) * fraction) >= len(train):
            raise _err(
                source,
                "eval_fraction",
                f"{fraction:g} of {len(train)} rows leaves no rows to train on; choose a smaller share",
            )
        seed = ds.get("split_seed", 42)
        stratify = "label" if labels.task == "classification" else None
        try:
            parts = train.train_test_split(test_size=fraction, seed=seed, stratify_by_column=stratify)
            how = "stratified " if stratify else ""
        except ValueError:
            # A class with a single example cannot be stratified; a plain split still works.
            parts = train.train_test_split(test_size=fraction, seed=seed)
            how = ""
            warnings.append(
                "eval split could not be stratified (a class has too few examples); split at random"
            )
        train, evald = parts["train"], parts["test"]
        eval_source = f"{how}{fraction:.0%} of '{ds.get('train_split', 'train')}' (seed {seed})"

    if ds.get("max_train_samples"):
        train = train.select(range(min(ds["max_train_samples"], len(train))))
    if evald is not None and ds.get("max_eval_samples"):
        evald = evald.select(range(min(ds["max_eval_samples"], len(evald))))
    if len(train) == 0:
        raise _err(source, "train_split", "the training split is empty")
    if evald is not None and len(evald) == 0:
        raise _err(source, "eval_split", "the evaluation split is empty")

    max_length = ds.get("max_length") or _model_limit(tokenizer)
    train, empty_train = _clean_texts(train, text_columns)
    if empty_train:
        warnings.append(f"{empty_train} training examples have an empty text field; kept as empty strings")
    eval_texts: list[str] = []
    eval_label_ids: list[Any] = []
    if evald is not None:
        evald, _ = _clean_texts(evald, text_columns)
        eval_texts = [" ‖ ".join(parts) for parts in zip(*(evald[c] for c in text_columns), strict=True)]
        eval_label_ids = list(evald["label"])

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(*(batch[c] for c in text_columns), truncation=True, max_length=max_length)

    def tokenized(dataset: Dataset) -> Dataset:
        keep = {"label"}
        return dataset.map(
            tokenize, batched=True, remove_columns=[c for c in dataset.column_names if c not in keep]
        )

    train = tokenized(train)
    evald = tokenized(evald) if evald is not None else None
    truncated = sum(1 for ids in train["input_ids"] if len(ids) >= max_length)
    return PreparedData(
        train=train,
        eval=evald,
        labels=labels,
        text_columns=text_columns,
        eval_source=eval_source,
        eval_texts=eval_texts,
        eval_label_ids=eval_label_ids,
        truncated_train=truncated,
        warnings=warnings,
    )


def _model_limit(tokenizer: Any) -> int:
    limit = getattr(tokenizer, "model_max_length", 512)
    # Tokenizers without a recorded limit report a huge sentinel (int(1e30)).
    return 512 if not limit or limit > 100_000 else int(limit)


def _clean_texts(dataset: Dataset, columns: list[str]) -> tuple[Dataset, int]:
    empty = sum(1 for c in columns for v in dataset[c] if v is None)

    def fix(batch: dict[str, list[Any]]) -> dict[str, list[str]]:
        return {c: ["" if v is None else str(v) for v in batch[c]] for c in columns}

    needs_fix = empty or any(getattr(dataset.features[c], "dtype", "") != "string" for c in columns)
    return (dataset.map(fix, batched=True) if needs_fix else dataset), empty


def token_length_stats(texts: list[list[str]], tokenizer: Any, max_length: int | None) -> dict[str, float]:
    """Token counts of (a sample of) examples without truncation: what max_length would cut."""
    if not texts or not texts[0]:
        return {}
    enc = tokenizer(*texts, truncation=False)
    lengths = sorted(len(ids) for ids in enc["input_ids"])
    limit = max_length or _model_limit(tokenizer)
    n = len(lengths)
    return {
        "examples": n,
        "mean": sum(lengths) / n,
        "median": lengths[n // 2],
        "p95": lengths[min(n - 1, math.ceil(0.95 * n) - 1)],
        "max": lengths[-1],
        "limit": limit,
        "truncated": sum(1 for v in lengths if v > limit),
    }
