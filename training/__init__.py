"""netgraph.training: data forms, losses, optimizers and the NetTrain loop."""

if __name__ != "netgraph.training":
    raise ImportError(
        "import training through netgraph (`import netgraph as ng`), not as a top-level "
        "package `training`: that would create a second copy of every class"
    )
