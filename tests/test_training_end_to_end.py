"""NetTrain end to end: one SGD step of Linear -> BN -> Ramp -> Linear against the same step
written out by hand in numpy (arrays and moving statistics), and a small classifier that learns.
"""

import numpy as np

import netgraph as ng

EPS, MOMENTUM = 1e-3, 0.9


def hand_sgd_step(x, t, arrays, lr):
    """One plain-SGD step on the mean over the batch of each example's mean squared error."""
    w1, b1, g, beta, mm, mv, w2, b2 = arrays
    n = len(x)
    # forward, Train-mode BN with the batch's own mean and biased variance
    h = x @ w1.T + b1
    mu = h.mean(axis=0)
    var = ((h - mu) ** 2).mean(axis=0)
    inv_std = 1.0 / np.sqrt(var + EPS)
    x_hat = (h - mu) * inv_std
    z = g * x_hat + beta
    r = np.maximum(z, 0.0)
    out = r @ w2.T + b2
    # backward of L = (1/n) sum_i mean_j (out_ij - t_ij)^2
    d_out = 2.0 * (out - t) / (out.shape[1] * n)
    d_w2, d_b2 = d_out.T @ r, d_out.sum(axis=0)
    d_z = (d_out @ w2) * (z > 0)
    d_g, d_beta = (d_z * x_hat).sum(axis=0), d_z.sum(axis=0)
    d_xhat = d_z * g
    d_h = inv_std / n * (n * d_xhat - d_xhat.sum(axis=0) - x_hat * (d_xhat * x_hat).sum(axis=0))
    d_w1, d_b1 = d_h.T @ x, d_h.sum(axis=0)
    new = [
        w1 - lr * d_w1,
        b1 - lr * d_b1,
        g - lr * d_g,
        beta - lr * d_beta,
        MOMENTUM * mm + (1 - MOMENTUM) * mu,
        MOMENTUM * mv + (1 - MOMENTUM) * var,
        w2 - lr * d_w2,
        b2 - lr * d_b2,
    ]
    loss = ((out - t) ** 2).mean(axis=1).mean()
    return new, loss


NAMES = [
    (0, "Weights"),
    (0, "Biases"),
    (1, "Scaling"),
    (1, "Biases"),
    (1, "MovingMean"),
    (1, "MovingVariance"),
    (3, "Weights"),
    (3, "Biases"),
]


def test_one_sgd_step_of_linear_bn_ramp_linear_equals_the_hand_step():
    rng = np.random.default_rng(7)
    net = ng.NetChain(
        [ng.LinearLayer(3), ng.BatchNormalizationLayer(), "Ramp", ng.LinearLayer(2)], Input=4
    )
    net = ng.NetInitialize(net, RandomSeeding=3)
    # non-trivial Scaling/Biases and moving statistics, so that every term matters
    net = ng.NetReplacePart(
        net,
        {
            (1, "Scaling"): [1.5, 0.5, 2.0],
            (1, "Biases"): [0.1, 0.4, -0.2],
            (1, "MovingMean"): [0.2, -0.1, 0.3],
            (1, "MovingVariance"): [1.5, 0.7, 2.0],
        },
    )
    x = rng.standard_normal((6, 4))
    t = rng.standard_normal((6, 2))
    before = [ng.NetExtract(net, p).astype(np.float64) for p in NAMES]
    expected, loss = hand_sgd_step(x, t, before, lr=0.1)
    results = ng.NetTrain(
        net,
        (x, t),
        "All",
        Method="SGD",
        LearningRate=0.1,
        BatchSize=6,
        MaxTrainingRounds=1,
        WorkingPrecision="Real64",
        TrainingProgressReporting=None,
    )
    trained = results["TrainedNet"]
    for path, want in zip(NAMES, expected):
        np.testing.assert_allclose(
            ng.NetExtract(trained, path), want, rtol=1e-9, atol=1e-12, err_msg=str(path)
        )
    np.testing.assert_allclose(results["BatchLossList"][0], loss, rtol=1e-12)
    for path, old in zip(NAMES, before):  # the given net is untouched
        np.testing.assert_array_equal(ng.NetExtract(net, path), old.astype(np.float32))


def test_a_small_classifier_learns_three_blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    labels = rng.integers(0, 3, 600)
    points = centres[labels] + rng.standard_normal((600, 2))
    net = ng.NetChain(
        [
            ng.LinearLayer(16),
            ng.BatchNormalizationLayer(),
            "Ramp",
            ng.LinearLayer(3),
            ng.SoftmaxLayer(),
        ],
        Input=2,
    )
    trained = ng.NetTrain(
        net,
        (points[:500], labels[:500]),
        MaxTrainingRounds=20,
        BatchSize=32,
        LearningRate=0.01,
        TrainingProgressReporting=None,
    )
    predicted = trained(points[500:]).argmax(axis=1)
    accuracy = (predicted == labels[500:]).mean()
    # the blobs overlap a little; the Bayes rate is about 0.99, chance is 1/3
    assert accuracy >= 0.95
