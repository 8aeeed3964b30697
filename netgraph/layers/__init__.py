"""netgraph.layers: one module per layer family."""
