"""Application: BatchNormalizationLayer between convolution and activation (Conv -> BN -> Ramp
blocks), trained with NetTrain on images: scikit-learn's 8x8 handwritten digits. A short run
of the net that `netgraph demo` trains for longer; after training, the BN layers hold moving
statistics of the convolution outputs, which "Test" mode then uses.

Reference page: BatchNormalizationLayer > Applications. Needs: pip install "netgraph[examples]".
Run: python examples/application_digits.py
"""

import numpy as np

import netgraph as ng
from netgraph.demo import digits_net, first_batchnorm, load_digits_split, train_digits

x_train, y_train, x_test, y_test = load_digits_split()
net = digits_net()
print(ng.Information(net))

# The demo's settings (ADAM, batches of 64, 10% held out for validation), two rounds only.
results = train_digits(net, x_train, y_train, rounds=2, reporting=None)
trained = results["TrainedNet"]
print("round losses:", np.round(results["RoundLossList"], 4))
accuracy = (trained(x_test).argmax(axis=1) == y_test).mean()
print(f"test accuracy after {results['TotalRounds']} rounds: {accuracy:.1%}")

bn = first_batchnorm(trained)
print(
    f"first BN layer ({bn[-1]}) MovingMean:", ng.NetExtract(trained, bn + ("MovingMean",)).round(3)
)
print(
    f"first BN layer ({bn[-1]}) MovingVariance:",
    ng.NetExtract(trained, bn + ("MovingVariance",)).round(3),
)
