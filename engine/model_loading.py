"""Load a checkpoint's tokenizer and a sequence-classification model with a fresh head, with errors in plain words."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine import hub
from engine.config import PresetError
from engine.data import LabelInfo

KEY = "[model] checkpoint"


def _is_local(checkpoint: str) -> bool:
    return os.path.isdir(os.path.expanduser(checkpoint))


def _common_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"trust_remote_code": bool(spec.get("trust_remote_code", False))}
    if spec.get("revision"):
        kwargs["revision"] = spec["revision"]
    return kwargs


def _translate(exc: BaseException, checkpoint: str, source: str) -> PresetError:
    text = str(exc)
    if "trust_remote_code" in text:
        return PresetError(
            source,
            f"'{checkpoint}' ships its own model code; set [model] trust_remote_code = true only if you trust it",
            key="[model] trust_remote_code",
        )
    if _is_local(checkpoint):
        if not (Path(checkpoint).expanduser() / "config.json").exists():
            return PresetError(
                source, f"'{checkpoint}' is a folder but has no config.json: not a model checkpoint", key=KEY
            )
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        return PresetError(source, f"cannot load '{checkpoint}': {first[:300]}", key=KEY)
    if not hub.reachable():
        return PresetError(source, hub.unreachable_model_message(checkpoint), key=KEY)
    if "is not a local folder and is not a valid model identifier" in text or "404" in text:
        return PresetError(
            source,
            f"'{checkpoint}' is neither a local folder nor a model on the hub (private models need `hf auth login`)",
            key=KEY,
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PresetError(source, f"cannot load '{checkpoint}': {first[:300]}", key=KEY)


def load_tokenizer(spec: dict[str, Any], source: str) -> Any:
    from transformers import AutoTokenizer

    checkpoint = spec["checkpoint"]
    if not _is_local(checkpoint) and _looks_like_path(checkpoint):
        raise PresetError(source, f"no such folder: {checkpoint}", key=KEY)
    try:
        return AutoTokenizer.from_pretrained(checkpoint, **_common_kwargs(spec))
    except (OSError, ValueError) as exc:
        raise _translate(exc, checkpoint, source) from None


def _looks_like_path(checkpoint: str) -> bool:
    return checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") > 1


def load_model(spec: dict[str, Any], source: str, labels: LabelInfo) -> tuple[Any, dict[str, Any]]:
    """The model and what its load report says: newly initialised, unexpected and mismatched weights."""
    from transformers import AutoModelForSequenceClassification

    checkpoint = spec["checkpoint"]
    kwargs = _common_kwargs(spec)
    kwargs["num_labels"] = labels.num_labels
    if labels.task == "regression":
        kwargs["problem_type"] = "regression"
    else:
        # Saved models then predict label names, not LABEL_0/LABEL_1.
        kwargs["id2label"] = labels.id2label
        kwargs["label2id"] = labels.label2id
        kwargs["problem_type"] = "single_label_classification"
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            checkpoint,
            output_loading_info=True,
            # A checkpoint fine-tuned for another label count still gives a useful body.
            ignore_mismatched_sizes=True,
            **kwargs,
        )
    except (OSError, ValueError) as exc:
        raise _translate(exc, checkpoint, source) from None
    mismatched = [
        str(item[0]) if isinstance(item, (tuple, list)) else str(item)
        for item in info.get("mismatched_keys", [])
    ]
    resolved = getattr(model.config, "_name_or_path", checkpoint) or checkpoint
    return model, {
        "missing": sorted(str(k) for k in info.get("missing_keys", [])),
        "unexpected": sorted(str(k) for k in info.get("unexpected_keys", [])),
        "mismatched": mismatched,
        "resolved": str(resolved),
    }
