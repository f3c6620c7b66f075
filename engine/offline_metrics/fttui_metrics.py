"""Offline stand-in for evaluate's hub metrics (accuracy, f1, ..., glue): same keys and numbers, via sklearn/SciPy."""

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    matthews_corrcoef,
    mean_squared_error,
    precision_score,
    recall_score,
    root_mean_squared_error,
)

_DESCRIPTION = """\
fttui ships this module so a run can be scored without the Hugging Face hub. Each config
reproduces the evaluate hub metric of the same name (or the matching config of the hub
"glue" metric): the same result keys, the same keyword arguments, the same numbers.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: predicted labels (ints), or predicted values (floats) for regression configs.
    references: true labels (ints), or true values (floats) for regression configs.
    Further keyword arguments are those of the hub metric the config stands for:
    accuracy: normalize, sample_weight. f1: labels, pos_label, average, sample_weight.
    precision, recall: labels, pos_label, average, sample_weight, zero_division.
    matthews_correlation: sample_weight. pearsonr, spearmanr: return_pvalue.
    mse: sample_weight, multioutput, squared. glue configs and pearson: none.
Returns: a dict of plain Python floats, keyed like the hub metric:
    accuracy, f1, precision, recall, matthews_correlation, pearsonr (+ p-value),
    spearmanr (+ spearmanr_pvalue), mse; glue: mrpc/qqp -> accuracy, f1; cola ->
    matthews_correlation; stsb -> pearson, spearmanr; the other glue configs -> accuracy.
    pearson is not a hub metric: it is glue stsb's "pearson" key on its own.
Examples:
    >>> metric = evaluate.load("engine/offline_metrics/fttui_metrics.py", "mrpc")
    >>> metric.compute(predictions=[1, 0, 1, 1, 0, 1], references=[1, 0, 0, 1, 1, 1])
    {'accuracy': 0.6666666666666666, 'f1': 0.75}
"""


def _plain(score):
    """The hub metrics return plain floats for a single score; numpy scalars do not serialise to TOML/JSON."""
    values = np.asarray(score, dtype=float)
    return values.item() if values.size == 1 else values.tolist()


def _accuracy(predictions, references, normalize=True, sample_weight=None):
    return {
        "accuracy": _plain(
            accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        )
    }


def _f1(predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None):
    score = f1_score(
        references,
        predictions,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
    )
    return {"f1": _plain(score)}


def _precision(
    predictions,
    references,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    score = precision_score(
        references,
        predictions,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    return {"precision": _plain(score)}


def _recall(
    predictions,
    references,
    labels=None,
    pos_label=1,
    average="binary",
    sample_weight=None,
    zero_division="warn",
):
    score = recall_score(
        references,
        predictions,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )
    return {"recall": _plain(score)}


def _matthews_correlation(predictions, references, sample_weight=None):
    return {
        "matthews_correlation": _plain(
            matthews_corrcoef(references, predictions, sample_weight=sample_weight)
        )
    }


def _pearson(predictions, references):
    return {"pearson": _plain(pearsonr(predictions, references)[0])}


def _pearsonr(predictions, references, return_pvalue=False):
    result = pearsonr(references, predictions)
    if return_pvalue:
        return {"pearsonr": _plain(result[0]), "p-value": _plain(result[1])}
    return {"pearsonr": _plain(result[0])}


def _spearmanr(predictions, references, return_pvalue=False):
    result = spearmanr(references, predictions)
    if return_pvalue:
        return {"spearmanr": _plain(result[0]), "spearmanr_pvalue": _plain(result[1])}
    return {"spearmanr": _plain(result[0])}


def _mse(predictions, references, sample_weight=None, multioutput="uniform_average", squared=True):
    # scikit-learn 1.6 removed mean_squared_error(squared=False); the hub metric keeps the argument.
    error = mean_squared_error if squared else root_mean_squared_error
    return {
        "mse": _plain(error(references, predictions, sample_weight=sample_weight, multioutput=multioutput))
    }


def _glue_accuracy(predictions, references):
    return _accuracy(predictions, references)


def _glue_accuracy_and_f1(predictions, references):
    return {**_accuracy(predictions, references), **_f1(predictions, references)}


def _glue_matthews_correlation(predictions, references):
    return _matthews_correlation(predictions, references)


def _glue_pearson_and_spearman(predictions, references):
    return {**_pearson(predictions, references), "spearmanr": _plain(spearmanr(predictions, references)[0])}


PLAIN_CONFIGS = {
    "accuracy": _accuracy,
    "f1": _f1,
    "precision": _precision,
    "recall": _recall,
    "matthews_correlation": _matthews_correlation,
    "pearson": _pearson,
    "pearsonr": _pearsonr,
    "spearmanr": _spearmanr,
    "mse": _mse,
}
GLUE_CONFIGS = {
    "mrpc": _glue_accuracy_and_f1,
    "qqp": _glue_accuracy_and_f1,
    "sst2": _glue_accuracy,
    "mnli": _glue_accuracy,
    "mnli_mismatched": _glue_accuracy,
    "mnli_matched": _glue_accuracy,
    "qnli": _glue_accuracy,
    "rte": _glue_accuracy,
    "wnli": _glue_accuracy,
    "hans": _glue_accuracy,
    "cola": _glue_matthews_correlation,
    "stsb": _glue_pearson_and_spearman,
}
REGRESSION_CONFIGS = ("pearson", "pearsonr", "spearmanr", "mse", "stsb")


class FttuiMetrics(evaluate.Metric):
    def _info(self):
        if self.config_name not in PLAIN_CONFIGS and self.config_name not in GLUE_CONFIGS:
            raise KeyError(
                f"fttui offline metrics: unknown config {self.config_name!r}; expected one of "
                f"{sorted(PLAIN_CONFIGS)} or a glue config {sorted(GLUE_CONFIGS)}"
            )
        # Feature types as the hub scripts declare them: inputs are cast to these on the
        # way in, so matching them keeps the numbers identical (float32 for regression).
        glue = self.config_name in GLUE_CONFIGS
        if self.config_name in REGRESSION_CONFIGS:
            value = datasets.Value("float32")
        else:
            value = datasets.Value("int64" if glue else "int32")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=["https://huggingface.co/evaluate-metric"],
            format="numpy" if glue else None,
        )

    @property
    def config_compute(self):
        """The function behind this config, so callers can see which keyword arguments it takes."""
        return PLAIN_CONFIGS.get(self.config_name) or GLUE_CONFIGS[self.config_name]

    def _compute(self, predictions, references, **kwargs):
        return self.config_compute(predictions, references, **kwargs)
