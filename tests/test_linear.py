"""LinearLayer: the generic contract, a loop reference, shape inference both ways, init.

Expected values come from `reference_linear` (a per-example loop written here) or from hand
arithmetic.
"""

import math

import numpy as np
import pytest
from layer_check import check_gradients, check_layer

import netgraph as ng


def reference_linear(x_batch, weights, biases):
    """One example at a time: flatten, multiply by the matrix, add the biases."""
    out = []
    for x in np.asarray(x_batch, np.float64):
        flat = x.reshape(-1)
        y = [sum(weights[i][j] * flat[j] for j in range(len(flat))) for i in range(len(weights))]
        out.append(np.reshape(y, np.shape(biases)) + biases)
    return np.array(out)


@pytest.mark.parametrize(
    "n, input_shape, weights_shape, biases_shape",
    [
        (5, (3,), (5, 3), (5,)),
        ((2, 3), (4, 5), (6, 20), (2, 3)),  # rank-2 input flattened, tuple output
        (4, (2, 2, 3), (4, 12), (4,)),
        ((), (3,), (1, 3), ()),  # scalar output
        (2, (), (2, 1), (2,)),  # scalar input ("Real")
    ],
)
def test_check_layer(n, input_shape, weights_shape, biases_shape):
    output = (n,) if isinstance(n, int) else n
    check_layer(
        ng.LinearLayer(n, Input=input_shape),
        input_shape,
        output_shape=output,
        array_shapes={"Weights": weights_shape, "Biases": biases_shape},
    )


@pytest.mark.parametrize("n, example_shape", [(3, (4,)), ((2, 2), (3, 2)), (1, (2, 1, 2))])
def test_matches_loop_reference(n, example_shape):
    rng = np.random.default_rng(1)
    out = (n,) if isinstance(n, int) else n
    weights = rng.standard_normal((math.prod(out), math.prod(example_shape)))
    biases = rng.standard_normal(out)
    x = rng.standard_normal((3, *example_shape))
    layer = ng.LinearLayer(
        n,
        Weights=ng.NumericArray(weights, "Real64"),
        Biases=ng.NumericArray(biases, "Real64"),
        Input=example_shape,
    )
    want = reference_linear(x, weights, biases)
    np.testing.assert_allclose(layer(x, WorkingPrecision="Real64"), want, rtol=1e-12)
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(x[0], WorkingPrecision="Real64"), want[0], rtol=1e-12)


def test_hand_example():
    layer = ng.LinearLayer(2, Weights=[[1, 2, 3], [0, 1, 0]], Biases=[10, 20])
    np.testing.assert_array_equal(layer(np.array([1.0, 1.0, 2.0])), [19.0, 21.0])
    np.testing.assert_array_equal(
        layer(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])), [[10.0, 20.0], [11.0, 20.0]]
    )


def test_gradients_of_flattened_input_and_tuple_output():
    rng = np.random.default_rng(2)
    layer = ng.NetInitialize(ng.LinearLayer((2, 2), Input=(3, 2)))
    layer = ng.NetReplacePart(layer, {"Biases": rng.standard_normal((2, 2))})
    grads = check_gradients(layer, rng.standard_normal((4, 3, 2)))
    assert grads[("Weights",)].shape == (4, 6) and grads[("Biases",)].shape == (2, 2)


def test_gradient_formulas_by_hand():
    # y = W x + b with all-ones output gradient: dW[i, j] = sum_n x[n, j], db = N, dx = sum_i W.
    layer = ng.LinearLayer(2, Weights=[[1, 2], [3, 4]], Biases=[0, 0])
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_array_equal(layer(x, ng.NetPortGradient("Weights")), [[4, 7], [4, 7]])
    np.testing.assert_array_equal(layer(x, ng.NetPortGradient("Biases")), [2, 2])
    np.testing.assert_array_equal(layer(x, ng.NetPortGradient("Input")), [[4, 6], [4, 6]])


# ------------------------------------------------------------------------- inference


def ports(net):
    return {**ng.Information(net, "InputPorts"), **ng.Information(net, "OutputPorts")}


def dims(net):
    return {k[-1]: v for k, v in ng.Information(net, "ArraysDimensions").items()}


def test_sizes_from_input_and_n():
    layer = ng.LinearLayer((2, 3), Input=(4, 5))
    assert ports(layer) == {"Input": (4, 5), "Output": (2, 3)}
    assert dims(layer) == {"Weights": (6, 20), "Biases": (2, 3)}


def test_n_from_output_biases_or_weights():
    assert ports(ng.LinearLayer(Output=(2, 2), Input=3))["Output"] == (2, 2)
    assert dims(ng.LinearLayer(Output=(2, 2), Input=3))["Weights"] == (4, 3)
    assert ports(ng.LinearLayer(Biases=np.zeros((3, 2))))["Output"] == (3, 2)
    assert ports(ng.LinearLayer(Weights=np.zeros((7, 2))))["Output"] == (7,)  # a vector
    assert dims(ng.LinearLayer(Weights=np.zeros((6, 2)), Output=(2, 3)))["Biases"] == (2, 3)


def test_input_from_weights_once_the_rank_is_known():
    layer = ng.LinearLayer(4, Weights=np.zeros((4, 6)))
    assert ports(layer)["Input"] is None  # a (6,) vector or a (2, 3) matrix flatten alike
    assert ports(ng.LinearLayer(4, Weights=np.zeros((4, 6)), Input=(None,)))["Input"] == (6,)
    assert ports(ng.LinearLayer(4, Weights=np.zeros((4, 6)), Input=(2, None)))["Input"] == (2, 3)
    init = ng.NetInitialize(layer)
    assert init(np.ones(6)).shape == (4,)
    assert init(np.ones((5, 2, 3))).shape == (5, 4)  # rank 3 data: a batch of (2, 3)


def test_inference_backwards_through_a_chain():
    chain = ng.NetChain([ng.LinearLayer(), ng.ElementwiseLayer("Tanh", Input=5)], Input=3)
    assert dims(ng.NetExtract(chain, 0)) == {"Weights": (5, 3), "Biases": (5,)}
    # Weights fix the size of a vector input; the rank comes from Input= or a neighbour.
    second = ng.LinearLayer(2, Weights=np.zeros((2, 5)), Input=(None,))
    chain = ng.NetChain([ng.LinearLayer(), second], Input=3)
    assert dims(ng.NetExtract(chain, 0)) == {"Weights": (5, 3), "Biases": (5,)}


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"Weights": np.zeros((4, 6)), "Input": 5}, ng.NetArrayError),
        ({"Weights": np.zeros((4, 6)), "Input": (4, None)}, ng.NetArrayError),
        ({"Weights": np.zeros((3, 6))}, ng.NetArrayError),
        ({"Biases": np.zeros(3)}, ng.NetArrayError),
        ({"Weights": np.zeros(4)}, ng.NetArrayError),
    ],
)
def test_conflicts(kwargs, error):
    with pytest.raises(error, match="LinearLayer"):
        ng.LinearLayer(4, **kwargs)


def test_data_of_the_wrong_size_names_the_port():
    layer = ng.NetInitialize(ng.LinearLayer(3, Input=2))
    with pytest.raises(ng.NetShapeError, match='"Input"'):
        layer(np.ones(5))


@pytest.mark.parametrize("n", [0, -2, 2.5, "3", (2, 0), True])
def test_bad_sizes(n):
    with pytest.raises(ng.NetOptionError, match="OutputDimensions"):
        ng.LinearLayer(n)


def test_kaiming_fan_in_is_the_flattened_input_size():
    layer = ng.NetInitialize(ng.LinearLayer(400, Input=(4, 5)), RandomSeeding=3)
    weights = ng.NetExtract(layer, "Weights")
    assert weights.shape == (400, 20)
    assert abs(weights.std() / math.sqrt(2 / 20) - 1) < 0.05
    np.testing.assert_array_equal(ng.NetExtract(layer, "Biases"), np.zeros(400))


def test_shorthand_int_and_options():
    chain = ng.NetChain([3, "Ramp", 2], Input=4)
    assert isinstance(ng.NetExtract(chain, 0), ng.LinearLayer)
    assert ng.NetExtract(chain, (0, "OutputDimensions")) == 3
    assert ng.NetExtract(ng.LinearLayer((2, 3)), "OutputDimensions") == (2, 3)
    assert ng.NetExtract(ng.LinearLayer(), "OutputDimensions") is ng.Automatic
