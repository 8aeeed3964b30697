"""netgraph.training: data forms, losses, optimizers and the NetTrain loop."""
