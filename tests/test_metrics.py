"""Metrics against values computed by hand."""
import math

import pytest

from leanbert.measure.metrics import compute_metrics, main_score
from leanbert.data.tasks import GLUE_TASKS


def test_accuracy_and_f1_by_hand():
    # preds 1,1,0,0 vs labels 1,0,0,1: tp=1 fp=1 fn=1 -> f1 = 2/(2+1+1) = 0.5, accuracy 0.5
    m = compute_metrics(GLUE_TASKS["mrpc"], [1, 1, 0, 0], [1, 0, 0, 1])
    assert m == {"accuracy": 0.5, "f1": 0.5}
    assert main_score(GLUE_TASKS["mrpc"], m) == 50.0


def test_mcc_by_hand():
    # tp=2 tn=1 fp=1 fn=0: (2*1 - 1*0) / sqrt(3*2*2*1) = 2/sqrt(12)
    m = compute_metrics(GLUE_TASKS["cola"], [1, 1, 1, 0], [1, 1, 0, 0])
    assert m["mcc"] == pytest.approx(2 / math.sqrt(12))


def test_pearson_spearman_by_hand():
    m = compute_metrics(GLUE_TASKS["stsb"], [1.0, 2.0, 3.0, 5.0], [2.0, 4.0, 6.0, 7.0])
    assert m["spearman"] == pytest.approx(1.0)
    # centred x = -1.75,-0.75,0.25,2.25 ; y = -2.75,-0.75,1.25,2.25
    num = 1.75 * 2.75 + 0.75 * 0.75 + 0.25 * 1.25 + 2.25 * 2.25
    den = math.sqrt((1.75**2 + 0.75**2 + 0.25**2 + 2.25**2) * (2.75**2 + 0.75**2 + 1.25**2 + 2.25**2))
    assert m["pearson"] == pytest.approx(num / den)


def test_constant_predictions_give_zero_correlation_not_nan():
    assert compute_metrics(GLUE_TASKS["stsb"], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0]) == {"pearson": 0.0, "spearman": 0.0}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="equally many"):
        compute_metrics(GLUE_TASKS["sst2"], [1], [1, 0])
