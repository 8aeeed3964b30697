"""`python -m netgraph ...` runs the `netgraph` command (see netgraph.cli)."""

import sys

from netgraph.cli import main

sys.exit(main())
