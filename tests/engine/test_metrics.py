"""Metrics: the shipped offline evaluate module against scikit-learn/SciPy and hand-checked values, and build_metrics."""

from __future__ import annotations

import math
import socket
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    mean_squared_error,
    precision_score,
    recall_score,
)

from engine.metrics import MetricsError, MetricSuite, build_metrics
from engine.offline_metrics import MODULE_PATH

evaluate = pytest.importorskip("evaluate")

BINARY_PREDICTIONS = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1]
BINARY_REFERENCES = [1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1]
MULTICLASS_PREDICTIONS = [0, 2, 1, 0, 0, 1, 2, 2, 1, 0, 2, 1]
MULTICLASS_REFERENCES = [0, 1, 2, 0, 1, 2, 2, 2, 1, 0, 0, 1]
# Multiples of 1/8 survive the float32 cast the metric features apply, so SciPy on these
# float64 lists sees the same numbers the module does.
REGRESSION_PREDICTIONS = [0.5, 1.25, 2.0, 3.0, 4.5, 2.25, 0.125, 3.75]
REGRESSION_REFERENCES = [0.0, 1.5, 2.5, 3.0, 4.0, 1.75, 0.5, 4.5]
GLUE_ACCURACY_ONLY = ["sst2", "mnli", "mnli_mismatched", "mnli_matched", "qnli", "rte", "wnli", "hans"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that tries to reach a host; the hub must never be contacted here."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    yield
    assert not attempts, f"a test tried to reach the network: {attempts[:3]}"


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def shipped(config: str):
    return evaluate.load(str(MODULE_PATH), config_name=config, keep_in_memory=True)


def sklearn_expected(config: str, predictions, references, average: str) -> dict[str, float]:
    by_config = {
        "accuracy": lambda: {"accuracy": accuracy_score(references, predictions)},
        "f1": lambda: {"f1": f1_score(references, predictions, average=average)},
        "precision": lambda: {"precision": precision_score(references, predictions, average=average)},
        "recall": lambda: {"recall": recall_score(references, predictions, average=average)},
        "matthews_correlation": lambda: {"matthews_correlation": matthews_corrcoef(references, predictions)},
        "mrpc": lambda: {
            "accuracy": accuracy_score(references, predictions),
            "f1": f1_score(references, predictions),
        },
        "cola": lambda: {"matthews_correlation": matthews_corrcoef(references, predictions)},
        "pearson": lambda: {"pearson": pearsonr(predictions, references)[0]},
        "pearsonr": lambda: {"pearsonr": pearsonr(references, predictions)[0]},
        "spearmanr": lambda: {"spearmanr": spearmanr(references, predictions)[0]},
        "mse": lambda: {"mse": mean_squared_error(references, predictions)},
        "stsb": lambda: {
            "pearson": pearsonr(predictions, references)[0],
            "spearmanr": spearmanr(predictions, references)[0],
        },
    }
    by_config["qqp"] = by_config["mrpc"]
    for name in GLUE_ACCURACY_ONLY:
        by_config[name] = by_config["accuracy"]
    return by_config[config]()


def assert_plain_floats(result: dict) -> None:
    # np.float64 subclasses float, so isinstance would let numpy scalars through.
    assert all(type(value) is float for value in result.values()), {k: type(v) for k, v in result.items()}


BINARY_CONFIGS = [
    "accuracy",
    "f1",
    "precision",
    "recall",
    "matthews_correlation",
    "mrpc",
    "qqp",
    "cola",
    *GLUE_ACCURACY_ONLY,
]


@pytest.mark.parametrize("config", BINARY_CONFIGS)
def test_shipped_binary_configs_equal_sklearn(config):
    result = shipped(config).compute(predictions=BINARY_PREDICTIONS, references=BINARY_REFERENCES)
    assert result == pytest.approx(sklearn_expected(config, BINARY_PREDICTIONS, BINARY_REFERENCES, "binary"))
    assert_plain_floats(result)


@pytest.mark.parametrize("config", ["accuracy", "f1", "precision", "recall", "matthews_correlation"])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_shipped_multiclass_configs_equal_sklearn(config, average):
    kwargs = {"average": average} if config in ("f1", "precision", "recall") else {}
    result = shipped(config).compute(
        predictions=MULTICLASS_PREDICTIONS, references=MULTICLASS_REFERENCES, **kwargs
    )
    expected = sklearn_expected(config, MULTICLASS_PREDICTIONS, MULTICLASS_REFERENCES, average)
    assert result == pytest.approx(expected)
    assert_plain_floats(result)


@pytest.mark.parametrize("config", ["pearson", "pearsonr", "spearmanr", "mse", "stsb"])
def test_shipped_regression_configs_equal_scipy(config):
    result = shipped(config).compute(predictions=REGRESSION_PREDICTIONS, references=REGRESSION_REFERENCES)
    expected = sklearn_expected(config, REGRESSION_PREDICTIONS, REGRESSION_REFERENCES, "binary")
    assert result == pytest.approx(expected, rel=1e-6)
    assert_plain_floats(result)


def test_shipped_binary_values_checked_by_hand():
    predictions, references = [1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1]
    # tp=3 (0, 3, 5), tn=1 (1), fp=1 (2), fn=1 (4)
    precision = recall = 3 / 4
    mcc = (3 * 1 - 1 * 1) / math.sqrt((3 + 1) * (3 + 1) * (1 + 1) * (1 + 1))
    expected = {
        "accuracy": {"accuracy": 4 / 6},
        "f1": {"f1": 0.75},
        "precision": {"precision": precision},
        "recall": {"recall": recall},
        "matthews_correlation": {"matthews_correlation": 0.25},
        "mrpc": {"accuracy": 4 / 6, "f1": 0.75},
        "qqp": {"accuracy": 4 / 6, "f1": 0.75},
        "sst2": {"accuracy": 4 / 6},
        "cola": {"matthews_correlation": mcc},
    }
    for config, values in expected.items():
        assert shipped(config).compute(predictions=predictions, references=references) == pytest.approx(
            values
        )


def test_shipped_multiclass_values_checked_by_hand():
    predictions, references = [0, 2, 1, 0, 0, 1], [0, 1, 2, 0, 1, 2]
    # class 0: tp=2, fp=1, fn=0 -> f1 0.8; classes 1 and 2: no true positive -> 0.
    assert shipped("f1").compute(predictions=predictions, references=references, average="macro") == {
        "f1": pytest.approx(0.8 / 3)
    }
    assert shipped("f1").compute(predictions=predictions, references=references, average="micro") == {
        "f1": pytest.approx(2 / 6)
    }
    assert shipped("accuracy").compute(predictions=predictions, references=references) == {
        "accuracy": pytest.approx(2 / 6)
    }


def test_shipped_regression_values_checked_by_hand():
    predictions, references = [10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]
    # deviations from the means: x (3.7, 2.7, -3.8, -0.3, -2.3), y (-2, -1, 0, 1, 2)
    pearson = -15.0 / math.sqrt(40.8 * 10)
    # ranks of x (5, 4, 1, 3, 2) against (1..5): sum d^2 = 34 -> 1 - 6 * 34 / (5 * 24)
    spearman = 1 - 6 * 34 / (5 * 24)
    result = shipped("stsb").compute(predictions=predictions, references=references)
    assert result == pytest.approx({"pearson": pearson, "spearmanr": spearman}, rel=1e-6)
    assert shipped("pearsonr").compute(predictions=predictions, references=references) == pytest.approx(
        {"pearsonr": pearson}, rel=1e-6
    )
    mse = shipped("mse")
    assert mse.compute(predictions=[2.5, 0.0, 2, 8], references=[3, -0.5, 2, 7]) == {"mse": 0.375}
    rmse = mse.compute(predictions=[2.5, 0.0, 2, 8], references=[3, -0.5, 2, 7], squared=False)
    assert rmse == {"mse": pytest.approx(math.sqrt(0.375))}


def test_shipped_takes_the_hub_metrics_keyword_arguments():
    predictions, references = [0, 0, 1, 1, 0], [0, 1, 0, 1, 0]
    # class 0 as positive: tp=2, fp=1, fn=1
    assert shipped("f1").compute(predictions=predictions, references=references, pos_label=0) == {
        "f1": pytest.approx(2 / 3)
    }
    weighted = shipped("accuracy").compute(
        predictions=predictions, references=references, sample_weight=[1, 3, 1, 1, 1]
    )
    assert weighted == {"accuracy": pytest.approx(3 / 7)}
    assert set(
        shipped("pearsonr").compute(predictions=[1, 2, 4], references=[1, 3, 3], return_pvalue=True)
    ) == {
        "pearsonr",
        "p-value",
    }
    assert set(
        shipped("spearmanr").compute(predictions=[1, 2, 4], references=[1, 3, 2], return_pvalue=True)
    ) == {"spearmanr", "spearmanr_pvalue"}
    # Like the hub accuracy metric, accuracy has no `average`.
    with pytest.raises(TypeError, match="average"):
        shipped("accuracy").compute(predictions=predictions, references=references, average="macro")


def test_shipped_unknown_config_lists_the_known_ones():
    with pytest.raises(KeyError, match="mrpc"):
        shipped("bleu")


def test_shipped_add_batch_equals_one_shot():
    metric = shipped("mrpc")
    for start in range(0, len(BINARY_PREDICTIONS), 5):
        metric.add_batch(
            predictions=BINARY_PREDICTIONS[start : start + 5], references=BINARY_REFERENCES[start : start + 5]
        )
    one_shot = shipped("mrpc").compute(predictions=BINARY_PREDICTIONS, references=BINARY_REFERENCES)
    assert metric.compute() == one_shot


def test_shipped_configs_combine():
    combined = evaluate.combine([shipped("accuracy"), shipped("matthews_correlation")])
    result = combined.compute(predictions=BINARY_PREDICTIONS, references=BINARY_REFERENCES)
    assert result == pytest.approx(
        {
            "accuracy": accuracy_score(BINARY_REFERENCES, BINARY_PREDICTIONS),
            "matthews_correlation": matthews_corrcoef(BINARY_REFERENCES, BINARY_PREDICTIONS),
        }
    )


def test_local_module_loads_with_evaluate_offline(monkeypatch):
    # evaluate reads HF_EVALUATE_OFFLINE once, at import; set what it read. (A hub name is not
    # tried here: even offline, evaluate asks huggingface_hub for headers, which goes online.)
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    assert shipped("accuracy").compute(predictions=[1, 0], references=[1, 1]) == {"accuracy": 0.5}


def test_build_offline_falls_back_to_the_shipped_module(offline):
    suite = build_metrics({"load": ["glue:mrpc"]}, "classification", 2)
    assert suite.names == ["accuracy", "f1"]
    assert suite.source == "fttui offline module (glue-compatible: mrpc), hub skipped: HF_EVALUATE_OFFLINE=1"
    result = suite.compute([1, 0, 1, 1, 0, 1], [1, 0, 0, 1, 1, 1])
    assert result == {"accuracy": pytest.approx(4 / 6), "f1": pytest.approx(0.75)}
    assert_plain_floats(result)


def test_build_respects_hf_hub_offline(monkeypatch):
    monkeypatch.delenv("HF_EVALUATE_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_calls = record_hub_calls(monkeypatch)
    suite = build_metrics({}, "classification", 2)
    assert hub_calls == []
    assert suite.names == ["accuracy", "f1"]
    assert "hub skipped: HF_HUB_OFFLINE=1" in suite.source


def test_build_without_fallback_names_the_spec(offline):
    with pytest.raises(MetricsError, match=r'"glue:mrpc".*offline_fallback = false'):
        build_metrics({"load": ["glue:mrpc"], "offline_fallback": False}, "classification", 2)


def test_build_unknown_metric_is_an_error(offline):
    with pytest.raises(MetricsError, match='"no_such_metric"'):
        build_metrics({"load": ["no_such_metric"]}, "classification", 2)


def test_build_unknown_metric_when_the_hub_answers_not_found(monkeypatch):
    monkeypatch.delenv("HF_EVALUATE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    record_hub_calls(monkeypatch)
    with pytest.raises(MetricsError, match=r'"no_such_metric" is not a metric evaluate could load'):
        build_metrics({"load": ["no_such_metric"]}, "classification", 2)


def test_build_tries_the_hub_once_then_falls_back(monkeypatch):
    monkeypatch.delenv("HF_EVALUATE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub_calls = record_hub_calls(monkeypatch)
    suite = build_metrics({"load": ["accuracy", "f1", "recall"]}, "classification", 2)
    assert hub_calls == [("accuracy", None)]
    # one entry for the three, since they share the module and the reason
    assert suite.source == "fttui offline module (accuracy, f1, recall), hub unreachable"


def test_build_uses_the_hub_metric_when_it_loads(monkeypatch, tmp_path):
    """A hub-style script (explicit _compute signature, no `average`) next to the shipped f1."""
    monkeypatch.delenv("HF_EVALUATE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    script = tmp_path / "fttui_test_hub_accuracy.py"
    script.write_text(HUB_STYLE_ACCURACY)
    hub_calls = record_hub_calls(monkeypatch, serves={"accuracy": script})
    suite = build_metrics({"load": ["accuracy", "f1"]}, "classification", 3)
    assert hub_calls == [("accuracy", None), ("f1", None)]
    assert suite.source == "evaluate: accuracy; fttui offline module (f1), hub unreachable"
    assert [part.kwargs for part in suite.parts] == [{}, {"average": "macro"}]
    result = suite.compute(MULTICLASS_PREDICTIONS, MULTICLASS_REFERENCES)
    assert result == pytest.approx(
        {
            "accuracy": accuracy_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS),
            "f1": f1_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS, average="macro"),
        }
    )


def test_three_classes_average_macro_by_default(offline):
    suite = build_metrics({"load": ["accuracy", "f1", "precision"]}, "classification", 3)
    result = suite.compute(MULTICLASS_PREDICTIONS, MULTICLASS_REFERENCES)
    assert result == pytest.approx(
        {
            "accuracy": accuracy_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS),
            "f1": f1_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS, average="macro"),
            "precision": precision_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS, average="macro"),
        }
    )
    weighted = build_metrics({"load": ["f1"], "average": "weighted"}, "classification", 3)
    assert weighted.compute(MULTICLASS_PREDICTIONS, MULTICLASS_REFERENCES) == pytest.approx(
        {"f1": f1_score(MULTICLASS_REFERENCES, MULTICLASS_PREDICTIONS, average="weighted")}
    )


def test_binary_average_with_three_classes_is_an_error(offline):
    with pytest.raises(MetricsError, match=r'metrics.average: "binary" needs 2 labels'):
        build_metrics({"average": "binary"}, "classification", 3)
    with pytest.raises(MetricsError, match='"glue:mrpc"'):
        build_metrics({"load": ["glue:mrpc"]}, "classification", 3)


def test_same_key_from_two_specs_is_an_error(offline):
    with pytest.raises(MetricsError, match=r'"accuracy" and "glue:mrpc" both produce "accuracy"'):
        build_metrics({"load": ["glue:mrpc", "accuracy"]}, "classification", 2)


def test_call_on_classification_logits_takes_the_argmax(offline):
    from transformers import EvalPrediction

    suite = build_metrics({}, "classification", 3)
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 1, 1, 2])
    # argmax -> [0, 1, 2, 0]: two right; f1 macro: class 0 0.667, class 1 0.667, class 2 0
    expected = {"accuracy": pytest.approx(0.5), "f1": pytest.approx((2 / 3 + 2 / 3) / 3)}
    assert suite((logits, labels)) == expected
    assert suite(EvalPrediction(predictions=logits, label_ids=labels)) == expected
    assert suite(((logits, np.zeros((4, 7, 3))), labels)) == expected


def test_call_on_regression_outputs_squeezes(offline):
    suite = build_metrics({}, "regression", 1)
    assert suite.names == ["pearson", "spearmanr"]
    assert "fttui module (pearson; no hub metric of that name)" in suite.source
    predictions = np.array(REGRESSION_PREDICTIONS, dtype=np.float32).reshape(-1, 1)
    result = suite((predictions, np.array(REGRESSION_REFERENCES)))
    assert result == pytest.approx(
        {
            "pearson": pearsonr(REGRESSION_PREDICTIONS, REGRESSION_REFERENCES)[0],
            "spearmanr": spearmanr(REGRESSION_PREDICTIONS, REGRESSION_REFERENCES)[0],
        },
        rel=1e-6,
    )
    assert_plain_floats(result)


def test_metric_suite_is_a_plain_dataclass():
    assert MetricSuite(names=[], source="").compute([0], [0]) == {}


def test_importing_metrics_does_not_import_heavy_libraries():
    code = (
        "import sys, engine.metrics\n"
        "heavy = [m for m in ('evaluate', 'transformers', 'torch', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


HUB_STYLE_ACCURACY = '''\
"""Accuracy with the hub script's signature, for tests."""

import datasets
import evaluate
from sklearn.metrics import accuracy_score


class HubStyleAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="",
            citation="",
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        return {"accuracy": float(accuracy_score(references, predictions, normalize=normalize))}
'''


def record_hub_calls(monkeypatch, serves: dict | None = None) -> list:
    """Stand in for the hub in evaluate.load: serve `serves` scripts, answer not-found for other names."""
    calls = []
    real_load = evaluate.load

    def load(path, config_name=None, **kwargs):
        if path == str(MODULE_PATH):
            return real_load(path, config_name=config_name, **kwargs)
        calls.append((path, config_name))
        if serves and path in serves:
            return real_load(str(serves[path]), config_name=config_name, **kwargs)
        raise FileNotFoundError(f"Module '{path}' doesn't exist on the Hugging Face Hub either.")

    monkeypatch.setattr(evaluate, "load", load)
    return calls


@pytest.mark.parametrize(
    ("load", "named"),
    [
        (["accuracy", "f1"], '"accuracy", "f1" need'),
        (["pearsonr", "matthews_correlation"], '"matthews_correlation" needs'),
        (["glue:mrpc"], '"glue:mrpc" needs'),
    ],
)
def test_class_metrics_on_regression_labels_fail_before_any_metric_loads(monkeypatch, load, named):
    monkeypatch.setattr(evaluate, "load", lambda *a, **k: pytest.fail("loaded a metric"))
    with pytest.raises(MetricsError) as info:
        build_metrics({"load": load}, "regression", 1, label_column="score")
    assert str(info.value) == (
        f"metrics.load: {named} class labels, but label column 'score' holds numbers to predict (regression); "
        'use e.g. ["pearsonr", "spearmanr", "mse"]'
    )
    with pytest.raises(MetricsError, match="but the labels are numbers to predict"):
        build_metrics({"load": load}, "regression", 1)  # the column is optional


def test_regression_metrics_pass_the_task_check(offline):
    suite = build_metrics({"load": ["pearsonr", "glue:stsb"]}, "regression", 1)
    assert suite.names == ["pearsonr", "pearson", "spearmanr"]


def test_task_check_knows_every_shipped_metric():
    from engine import metrics
    from engine.offline_metrics import fttui_metrics

    for name in fttui_metrics.PLAIN_CONFIGS:
        assert metrics.needs_class_labels(name) != (name in fttui_metrics.REGRESSION_CONFIGS), name
    for config in fttui_metrics.GLUE_CONFIGS:
        assert metrics.needs_class_labels(f"glue:{config}") != (config in fttui_metrics.REGRESSION_CONFIGS)
    for name in metrics.REGRESSION_SUGGESTION:
        assert name in fttui_metrics.REGRESSION_CONFIGS
