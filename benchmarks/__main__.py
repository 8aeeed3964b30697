"""`python -m benchmarks [--quick] [--only NAMES] [--no-torch] [--output PATH]`."""

from .cli import main

raise SystemExit(main())
