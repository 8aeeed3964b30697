"""LearningRateMultipliers rules: the container option and the NetTrain option mean the same
thing (keys, slices of positions, ng.All as a catch-all, first match wins), checked against one
hand-computed SGD step of a three-layer linear chain."""

from __future__ import annotations

import numpy as np
import pytest
from layer_check import raises

import netgraph as ng

LR = 0.1
RNG = np.random.default_rng(11)
# float32 values (what a layer stores), held in float64 for the hand computation
W = [RNG.normal(size=s).astype(np.float32).astype(float) for s in [(3, 2), (3, 3), (2, 3)]]
B = [RNG.normal(size=n).astype(np.float32).astype(float) for n in (3, 3, 2)]
X, T = RNG.normal(size=(6, 2)), RNG.normal(size=(6, 2))


def layers():
    return [ng.LinearLayer(len(b), Weights=w, Biases=b) for w, b in zip(W, B)]


def hand_gradients() -> dict:
    """Gradients of the mean over examples of the mean squared error over 2 outputs."""
    h = [X]
    for w, b in zip(W, B):
        h.append(h[-1] @ w.T + b)
    g = 2 * (h[-1] - T) / (len(X) * 2)
    out = {}
    for i in (2, 1, 0):
        out[(i, "Weights")] = g.T @ h[i]
        out[(i, "Biases")] = g.sum(0)
        g = g @ W[i]
    return out


GRADS = hand_gradients()


def train(net, **options):
    return ng.NetTrain(
        net,
        (X, T),
        "All",
        Method="SGD",
        LearningRate=LR,
        MaxTrainingRounds=1,
        BatchSize=len(X),
        WorkingPrecision="Real64",
        TrainingProgressReporting=None,
        **options,
    )


def check_step(results, multipliers: dict) -> None:
    """Every array moved by exactly -LR * m * gradient; frozen ones are bit-identical."""
    trained = ng.Information(results["TrainedNet"], "Arrays")
    for (i, name), grad in GRADS.items():
        m = multipliers[(i, name)]
        assert results["ArraysLearningRateMultipliers"][(i, name)] == m, (i, name)
        start = (W if name == "Weights" else B)[i]
        if m == 0:
            np.testing.assert_array_equal(trained[(i, name)], start)
        else:
            np.testing.assert_allclose(trained[(i, name)], start - LR * m * grad, rtol=1e-9)


def expected(per_layer: list, biases: list | None = None) -> dict:
    biases = per_layer if biases is None else biases
    out = {}
    for i in range(3):
        out[(i, "Weights")] = per_layer[i]
        out[(i, "Biases")] = biases[i]
    return out


CASES = [
    ({1: 0}, expected([1, 0, 1])),
    ({-1: 0.5}, expected([1, 1, 0.5])),
    ([(slice(0, 2), 0)], expected([0, 0, 1])),
    ([(slice(1, None), 2)], expected([1, 2, 2])),
    ([(slice(None, None, 2), 0), (ng.All, 0.5)], expected([0, 0.5, 0])),
    ([(1, 3), (ng.All, None)], expected([0, 3, 0])),  # freeze all but one layer
    ([(ng.All, 0.5), (1, 3)], expected([0.5, 0.5, 0.5])),  # the first match wins
    ({"Biases": 0, ng.All: 2}, expected([2, 2, 2], [0, 0, 0])),
    ({(2, "Weights"): 0}, expected([1, 1, 0], [1, 1, 1])),
    (0.25, expected([0.25] * 3)),
]


@pytest.mark.parametrize("rules, multipliers", CASES)
def test_container_option_and_nettrain_option_agree(rules, multipliers):
    as_option = train(ng.NetChain(layers(), Input=2, LearningRateMultipliers=rules))
    check_step(as_option, multipliers)
    in_nettrain = train(ng.NetChain(layers(), Input=2), LearningRateMultipliers=rules)
    check_step(in_nettrain, multipliers)
    chain = ng.NetChain(layers(), Input=2, LearningRateMultipliers=rules)
    assert ng.Information(chain, "ArraysLearningRateMultipliers") == multipliers


def test_issue_repro_frozen_layer_trains_the_others():
    chain = ng.NetChain(layers(), Input=2, LearningRateMultipliers={1: 0})
    report = ng.Information(chain, "ArraysLearningRateMultipliers")
    assert [report[(i, "Weights")] for i in range(3)] == [1.0, 0.0, 1.0]
    check_step(train(chain), expected([1, 0, 1]))


def test_nettrain_option_comes_before_the_nets_own_setting():
    chain = ng.NetChain(layers(), Input=2, LearningRateMultipliers={0: 0, ng.All: 0.5})
    # NetTrain's rule decides layer 1; the chain's own rules decide the rest
    check_step(train(chain, LearningRateMultipliers={1: 3}), expected([0, 3, 0.5]))


def test_innermost_setting_wins():
    inner = ng.NetChain(layers()[1:], LearningRateMultipliers={0: 4})
    net = ng.NetChain(
        {"first": layers()[0], "rest": inner}, Input=2, LearningRateMultipliers={ng.All: 0}
    )
    report = ng.Information(net, "ArraysLearningRateMultipliers")
    assert report[("first", "Weights")] == 0
    assert report[("rest", 0, "Weights")] == 4  # the inner chain's rule
    assert report[("rest", 1, "Biases")] == 0  # no inner rule matches: the outer catch-all
    lone = ng.LinearLayer(2, Input=3, LearningRateMultipliers={"Biases": 0})
    nested = ng.NetChain([lone], LearningRateMultipliers=7)
    report = ng.Information(nested, "ArraysLearningRateMultipliers")
    assert report == {(0, "Weights"): 7.0, (0, "Biases"): 0.0}


def test_named_chain_rules_and_slices():
    named = dict(zip("abc", layers()))
    chain = ng.NetChain(named, Input=2, LearningRateMultipliers=[(slice(1, 3), 0), ("a", 2)])
    report = ng.Information(chain, "ArraysLearningRateMultipliers")
    assert report[("a", "Weights")] == 2 and report[("b", "Biases")] == 0
    assert report[("c", "Weights")] == 0


def test_rules_survive_export_and_replace(tmp_path):
    chain = ng.NetChain(layers(), Input=2, LearningRateMultipliers=[(slice(0, 2), 0)])
    ng.Export(tmp_path / "n.safetensors", chain)
    back = ng.Import(tmp_path / "n.safetensors")
    assert ng.Information(back, "ArraysLearningRateMultipliers") == expected([0, 0, 1])
    replaced = ng.NetReplacePart(chain, "LearningRateMultipliers", {2: 0})
    assert ng.Information(replaced, "ArraysLearningRateMultipliers") == expected([1, 1, 0])


def test_bad_rules_are_errors_naming_the_key():
    def build(rules):
        named = dict(zip(["conv", "lin"], layers()[:2]))
        return ng.NetChain(named, Input=2, LearningRateMultipliers=rules)

    raises(ng.NetOptionError, lambda: build({"lni": 0}), "'lni' names no", 'Did you mean "lin"')
    raises(ng.NetOptionError, lambda: build([(slice(5, 9), 0)]), "slice(5, 9, None)", "2 layers")
    raises(ng.NetOptionError, lambda: build([(slice("conv", "lin"), 0)]), "int bounds")
    raises(ng.NetOptionError, lambda: build({"lin": "fast"}), "multiplier of 'lin'", "'fast'")
    raises(ng.NetOptionError, lambda: build({"lin": float("nan")}), "finite")
    raises(ng.NetOptionError, lambda: build("fast"), "a dict {key: multiplier}")
    leaf = lambda: ng.LinearLayer(2, LearningRateMultipliers={"Baises": 0})  # noqa: E731
    raises(ng.NetOptionError, leaf, "LinearLayer", "'Baises' names no array", '"Biases"')
    replace = lambda: ng.NetReplacePart(layers()[0], "LearningRateMultipliers", {"W": 0})  # noqa: E731
    raises(ng.NetOptionError, replace, "'W' names no array", '"Weights"')
    chain = ng.NetChain(layers(), Input=2)
    raises(
        ng.NetOptionError,
        lambda: train(chain, LearningRateMultipliers=[(slice(3, 4), 0)]),
        "selects no layer",
    )


def test_rules_do_not_mutate_the_given_option():
    rules = [(slice(0, 2), 0), (ng.All, 0.5)]
    copy = list(rules)
    ng.NetChain(layers(), Input=2, LearningRateMultipliers=rules)
    train(ng.NetChain(layers(), Input=2), LearningRateMultipliers=rules)
    assert rules == copy


def test_a_shared_array_follows_the_first_rule_that_matches_any_of_its_uses():
    w = ng.NetSharedArray("w")

    def shared_chain(**kw):
        uses = {"a": ng.LinearLayer(3, Weights=w), "b": ng.LinearLayer(3, Weights=w)}
        return ng.NetChain(uses, Input=3, **kw)

    rules = {"b": 0.5, ng.All: 0}
    want = {w: 0.5, ("a", "Biases"): 0.0, ("b", "Biases"): 0.5}
    assert (
        ng.Information(shared_chain(LearningRateMultipliers=rules), "ArraysLearningRateMultipliers")
        == want
    )
    x = np.ones((2, 3))
    trained = ng.NetTrain(
        ng.NetInitialize(shared_chain()),
        (x, x),
        "All",
        LearningRateMultipliers=rules,
        MaxTrainingRounds=1,
        BatchSize=2,
        TrainingProgressReporting=None,
    )
    assert trained["ArraysLearningRateMultipliers"] == want
