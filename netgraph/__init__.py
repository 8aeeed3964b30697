"""netgraph: Wolfram-style NetChain/NetGraph neural networks on numpy.

>>> import numpy as np, netgraph as ng
>>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))
>>> bn(np.array([1.0, 2.0, 3.0])).shape
(3,)
"""

# ruff: noqa: I001  (core modules first, then the layer and training packages, which import them)
from .errors import (
    NetArrayError,
    NetDataError,
    NetError,
    NetGraphError,
    NetLoadError,
    NetNotInitializedError,
    NetOptionError,
    NetSaveError,
    NetShapeError,
    NetTrainError,
)
from .information import Information
from .containers import NetChain, NetGraph
from .decoders import NetDecoder
from .sharing import NetInsertSharedArrays
from .files import Export, Import
from .initialize import NetInitialize
from .layer import Layer  # noqa: I001  (core modules before the layer and training packages)
from .parts import NetExtract, NetReplacePart, Options
from .surgery import NetAppend, NetDelete, NetDrop, NetInsert, NetJoin, NetPrepend, NetTake
from ._graph_surgery import NetFlatten, NetRename
from .values import All, Automatic, NetPort, NetPortGradient, NetSharedArray, NumericArray, Scaled

from netgraph.layers.normalization import BatchNormalizationLayer
from netgraph.layers.convolution import ConvolutionLayer, PoolingLayer
from netgraph.layers.elementwise import ElementwiseLayer
from netgraph.layers.linear import LinearLayer
from netgraph.layers.losses import CrossEntropyLossLayer, MeanSquaredLossLayer
from netgraph.layers.merge import CatenateLayer, ThreadingLayer, TotalLayer
from netgraph.layers.structural import DropoutLayer, FlattenLayer, ReshapeLayer, SoftmaxLayer

from netgraph.training.loop import NetTrain
from netgraph.training.netmeasurements import NetMeasurements
from netgraph.training.results import NetTrainResults

__version__ = "0.1.0"

__all__ = [
    "All",
    "Automatic",
    "BatchNormalizationLayer",
    "ConvolutionLayer",
    "PoolingLayer",
    "CatenateLayer",
    "CrossEntropyLossLayer",
    "DropoutLayer",
    "ElementwiseLayer",
    "FlattenLayer",
    "LinearLayer",
    "MeanSquaredLossLayer",
    "ReshapeLayer",
    "SoftmaxLayer",
    "ThreadingLayer",
    "TotalLayer",
    "Export",
    "Import",
    "Information",
    "Layer",
    "NetArrayError",
    "NetChain",
    "NetDecoder",
    "NetGraph",
    "NetInsertSharedArrays",
    "NetMeasurements",
    "NetDataError",
    "NetError",
    "NetAppend",
    "NetDelete",
    "NetDrop",
    "NetExtract",
    "NetFlatten",
    "NetInsert",
    "NetJoin",
    "NetPrepend",
    "NetRename",
    "NetTake",
    "NetGraphError",
    "NetInitialize",
    "NetLoadError",
    "NetNotInitializedError",
    "NetOptionError",
    "NetPort",
    "NetPortGradient",
    "NetReplacePart",
    "NetSaveError",
    "NetShapeError",
    "NetSharedArray",
    "NetTrain",
    "NetTrainResults",
    "NetTrainError",
    "NumericArray",
    "Options",
    "Scaled",
]
