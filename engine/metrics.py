"""Evaluation metrics for a run: the preset's ``[metrics]`` table loaded through evaluate, offline-capable."""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass, field
from typing import Any

from engine.offline_metrics import MODULE_PATH

TASKS = ("classification", "regression")
DEFAULT_LOAD = {"classification": ["accuracy", "f1"], "regression": ["pearson", "spearmanr"]}
# evaluate reads HF_EVALUATE_OFFLINE once, when it is imported, and ignores HF_HUB_OFFLINE
# altogether; both are read here at build time so either one spares the ~1.5 s hub attempt.
OFFLINE_VARIABLES = ("HF_EVALUATE_OFFLINE", "HF_HUB_OFFLINE")
TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
# The hub has a "pearsonr" metric (key "pearsonr") but no "pearson"; fttui's "pearson" is
# GLUE stsb's key on its own, so it only ever comes from the shipped module.
SHIPPED_ONLY = {"pearson": "no hub metric of that name"}
# Inputs that every metric accepts, so a probe at build time can find the output keys and
# surface a bad spec before training starts rather than at the first evaluation.
CLASSIFICATION_PROBE_ROUNDS = 2
REGRESSION_PROBE = ([0.0, 1.0, 2.0, 3.5], [0.0, 1.0, 2.0, 3.0])
# Metrics that count right and wrong classes. On regression outputs they do not fail loudly:
# the shipped module casts floats to ints (accuracy of 0.37 -> 0), sklearn refuses only some.
# Kept in step with the shipped module's configs by a test.
CLASS_LABEL_METRICS = frozenset({"accuracy", "f1", "precision", "recall", "matthews_correlation"})
REGRESSION_GLUE_CONFIGS = frozenset({"stsb"})
# What to suggest instead: metrics the shipped module computes offline on float labels.
REGRESSION_SUGGESTION = ("pearsonr", "spearmanr", "mse")


class MetricsError(Exception):
    """A metric that cannot be built or computed. ``str(err)`` is one line naming the spec."""


@dataclass
class LoadedMetric:
    spec: str
    module: Any  # evaluate.EvaluationModule
    kwargs: dict[str, Any]
    source: str


@dataclass
class MetricSuite:
    names: list[str]
    source: str
    task: str = "classification"
    parts: list[LoadedMetric] = field(default_factory=list, repr=False)

    def compute(self, predictions, references) -> dict[str, float]:
        results: dict[str, float] = {}
        for part in self.parts:
            try:
                output = part.module.compute(predictions=predictions, references=references, **part.kwargs)
            except Exception as err:
                raise MetricsError(f'metrics "{part.spec}": computing failed: {_one_line(err)}') from err
            for key, value in output.items():
                try:
                    results[key] = float(value)
                except (TypeError, ValueError) as err:
                    raise MetricsError(
                        f'metrics "{part.spec}": expected a single number for "{key}", got {value!r}'
                    ) from err
        return results

    def __call__(self, eval_pred) -> dict[str, float]:
        """A Trainer ``compute_metrics``: turns logits into predictions, then computes."""
        import numpy as np

        if hasattr(eval_pred, "predictions"):
            logits, labels = eval_pred.predictions, eval_pred.label_ids
        else:
            logits, labels = eval_pred[0], eval_pred[1]
        # Models that return hidden states or attentions give a tuple; the logits come first.
        if isinstance(logits, tuple):
            logits = logits[0]
        logits, labels = np.asarray(logits), np.asarray(labels)
        if self.task == "classification":
            predictions = logits.argmax(axis=-1)
        else:
            predictions = _squeeze_last(logits)
            labels = _squeeze_last(labels)
        return self.compute(predictions, labels)


def check_task(load: list[str], task: str, label_column: str = "") -> None:
    """Refuse class-counting metrics on a regression run, naming them and what to use instead.

    Cheap (nothing heavy imported): callable wherever the task is known, before any metric loads.
    """
    if task != "regression":
        return
    wrong = [item for item in load if needs_class_labels(item)]
    if not wrong:
        return
    names = ", ".join(f'"{item}"' for item in wrong)
    verb = "needs" if len(wrong) == 1 else "need"
    labels = f"label column '{label_column}' holds" if label_column else "the labels are"
    suggestion = ", ".join(f'"{name}"' for name in REGRESSION_SUGGESTION)
    raise MetricsError(
        f"metrics.load: {names} {verb} class labels, but {labels} numbers to predict (regression); "
        f"use e.g. [{suggestion}]"
    )


def needs_class_labels(item: str) -> bool:
    """Whether the metric spec ``name`` or ``name:config`` scores class ids (False where unknown)."""
    name, _, config = item.partition(":")
    if name == "glue":
        return bool(config) and config not in REGRESSION_GLUE_CONFIGS
    return name in CLASS_LABEL_METRICS


def build_metrics(spec: dict, task: str, num_labels: int, label_column: str = "") -> MetricSuite:
    """Load every metric of ``spec`` (the ``[metrics]`` table), falling back to the shipped module offline.

    ``label_column`` only makes a task mismatch's error name the column.
    """
    if task not in TASKS:
        raise MetricsError(f'metrics: expected task "classification" or "regression", got "{task}"')
    if task == "classification" and num_labels < 2:
        raise MetricsError(f"metrics: classification needs at least 2 labels, got num_labels = {num_labels}")
    load = spec.get("load", DEFAULT_LOAD[task])
    if isinstance(load, str) or not all(isinstance(item, str) for item in load):
        raise MetricsError(f'metrics.load: expected a list of "name" or "name:config", got {load!r}')
    check_task(load, task, label_column)
    average = spec.get("average")
    if task == "classification":
        if average == "binary" and num_labels > 2:
            raise MetricsError(f'metrics.average: "binary" needs 2 labels, got {num_labels}; use "macro"')
        average = average or ("binary" if num_labels == 2 else "macro")
    fallback = spec.get("offline_fallback", True)

    import datasets
    import evaluate

    from engine.offline_metrics import fttui_metrics

    # Their bars would tear a Textual screen; a metric load has nothing worth showing.
    evaluate.utils.disable_progress_bar()
    datasets.disable_progress_bars()
    hub_off = _offline_reason(evaluate)

    parts: list[LoadedMetric] = []
    owner: dict[str, str] = {}
    for item in load:
        name, _, config = item.partition(":")
        if not name or ":" in config:
            raise MetricsError(f'metrics.load: expected "name" or "name:config", got "{item}"')
        if name == "glue" and not config:
            raise MetricsError('metrics.load: "glue" needs a task after a colon, e.g. "glue:mrpc"')
        shipped = _shipped_config(name, config or None, fttui_metrics)
        module, source, hub_reached = _load_one(
            evaluate, item, name, config or None, shipped, fallback, hub_off
        )
        if not hub_reached and hub_off is None:
            # One failed attempt is enough: each further one would cost another ~1.5 s.
            hub_off = "hub unreachable"
        kwargs = {"average": average} if average and "average" in _compute_parameters(module) else {}
        part = LoadedMetric(item, module, kwargs, source)
        for key in _probe_keys(part, task, num_labels):
            if key in owner:
                raise MetricsError(
                    f'metrics.load: "{item}" and "{owner[key]}" both produce "{key}"; keep one'
                )
            owner[key] = item
        parts.append(part)
    return MetricSuite(
        names=list(owner), source=_summarise([part.source for part in parts]), task=task, parts=parts
    )


def _summarise(sources: list[str]) -> str:
    """One entry per spec, but neighbours from the shipped module for the same reason share one."""
    grouped: list[tuple[list[str], str]] = []
    for source in sources:
        match = re.fullmatch(r"fttui offline module \((.+)\), (.+)", source)
        if match and grouped and grouped[-1][1] == match.group(2) and grouped[-1][0]:
            grouped[-1][0].append(match.group(1))
        elif match:
            grouped.append(([match.group(1)], match.group(2)))
        else:
            grouped.append(([], source))
    return "; ".join(
        f"fttui offline module ({', '.join(labels)}), {reason}" if labels else reason
        for labels, reason in grouped
    )


def _offline_reason(evaluate) -> str | None:
    for variable in OFFLINE_VARIABLES:
        if os.environ.get(variable, "").upper() in TRUE_VALUES:
            return f"hub skipped: {variable}={os.environ[variable]}"
    if evaluate.config.HF_EVALUATE_OFFLINE:
        return "hub skipped: HF_EVALUATE_OFFLINE was set when evaluate was imported"
    return None


def _shipped_config(name: str, config: str | None, fttui_metrics) -> str | None:
    """The shipped module's config standing in for ``name:config``, or None where it has none."""
    if name == "glue":
        return config if config in fttui_metrics.GLUE_CONFIGS else None
    if config is None and name in fttui_metrics.PLAIN_CONFIGS:
        return name
    return None


def _load_one(evaluate, item, name, config, shipped, fallback, hub_off):
    """Returns the module, its source line, and False where the hub was tried and not reached."""
    if name in SHIPPED_ONLY:
        return _load_shipped(evaluate, item, shipped), f"fttui module ({name}; {SHIPPED_ONLY[name]})", True
    hub_error = None
    if hub_off is None:
        try:
            module = evaluate.load(name, config_name=config, keep_in_memory=True)
        except (FileNotFoundError, ConnectionError) as err:
            # evaluate raises the same FileNotFoundError for "hub unreachable" and "no such
            # metric"; a name the shipped module knows is on the hub, so it means unreachable.
            if shipped is None:
                raise MetricsError(
                    f'metrics.load: "{item}" is not a metric evaluate could load ({_one_line(err)}), '
                    f"nor one fttui ships offline ({_shipped_names()})"
                ) from err
            hub_error, hub_off = err, "hub unreachable"
        except Exception as err:
            raise MetricsError(f'metrics.load: "{item}": evaluate.load failed: {_one_line(err)}') from err
        else:
            return module, (f"evaluate: {name} ({config})" if config else f"evaluate: {name}"), True
    if not fallback:
        raise MetricsError(
            f'metrics.load: "{item}" needs the Hugging Face hub ({hub_off}) and offline_fallback = false'
        ) from hub_error
    if shipped is None:
        raise MetricsError(
            f'metrics.load: "{item}" needs the Hugging Face hub ({hub_off}) and fttui ships no offline '
            f"version of it ({_shipped_names()})"
        ) from hub_error
    label = f"glue-compatible: {shipped}" if name == "glue" else shipped
    module = _load_shipped(evaluate, item, shipped)
    return module, f"fttui offline module ({label}), {hub_off}", hub_error is None


def _load_shipped(evaluate, item: str, config: str):
    try:
        return evaluate.load(str(MODULE_PATH), config_name=config, keep_in_memory=True)
    except Exception as err:
        raise MetricsError(f'metrics.load: "{item}": fttui offline module failed: {_one_line(err)}') from err


def _shipped_names() -> str:
    from engine.offline_metrics import fttui_metrics

    return ", ".join([*fttui_metrics.PLAIN_CONFIGS, "glue:" + "/".join(fttui_metrics.GLUE_CONFIGS)])


def _compute_parameters(module) -> set[str]:
    # The shipped module dispatches on its config; ask it for the function behind the config.
    compute = getattr(module, "config_compute", None) or module._compute
    return set(inspect.signature(compute).parameters)


def _probe_keys(part: LoadedMetric, task: str, num_labels: int) -> list[str]:
    if task == "classification":
        references = list(range(num_labels)) * CLASSIFICATION_PROBE_ROUNDS
        predictions = list(references)
    else:
        predictions, references = REGRESSION_PROBE
    return list(MetricSuite([], part.source, task, [part]).compute(predictions, references))


def _squeeze_last(values):
    return values.squeeze(-1) if values.ndim > 1 and values.shape[-1] == 1 else values


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    # KeyError's str() is the repr of its argument: drop the quotes it adds.
    if isinstance(err, KeyError) and len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text
