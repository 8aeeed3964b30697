"""Regressions found reviewing issue 12 (correctness and robustness) on the merged code."""

import warnings

import numpy as np
import pytest

import netgraph as ng


def _linear():
    lin = ng.LinearLayer(2, Input=2, Weights=np.eye(2), Biases=np.zeros(2))
    return lin


def test_netmeasurements_refuses_float64_data_beyond_float32():
    x = np.array([[1.0, 2.0], [3.0, 1e300], [0.0, 1.0]])
    y = np.zeros((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        with pytest.raises(ng.NetDataError) as err:
            ng.NetMeasurements(_linear(), (x, y), "MeanSquare")
    msg = str(err.value)
    assert "'Input'" in msg and "example 1" in msg and "1e+300" in msg and "(1, 1)" in msg


def test_netmeasurements_real64_takes_float64_data_beyond_float32():
    x = np.array([[1e100, 0.0], [0.0, 0.0]])
    y = np.zeros((2, 2))
    # identity net: the mean |output - target| over the 4 values is 1e100 / 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ng.NetMeasurements(_linear(), (x, y), "MeanDeviation", WorkingPrecision="Real64")
    assert got == pytest.approx(1e100 / 4, rel=1e-12)


def test_netmeasurements_overflow_in_the_net_leaks_no_warning():
    # Real64 data the net squares past float64's range: the loss is inf, and no warning escapes
    x = np.array([[1e300, 0.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ng.NetMeasurements(
            _linear(), (x, np.zeros((2, 2))), "Loss", WorkingPrecision="Real64"
        )
    assert got == np.inf
