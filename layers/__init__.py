"""netgraph.layers: one module per layer family."""

if __name__ != "netgraph.layers":
    raise ImportError(
        "import the layers through netgraph (`import netgraph as ng`), not as a top-level "
        "package `layers`: that would create a second copy of every class"
    )
