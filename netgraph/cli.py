"""The `netgraph` command: the digits demo, and a look inside or through a saved net.

    netgraph demo [--out DIR] [--rounds N] [--seed S]   train the digits net, write its files
    netgraph info FILE                                  the Information report of a saved net
    netgraph eval FILE INPUT.npy [--output OUT.npy]     evaluate a saved net on an array

Problems a user can cause (a missing or damaged file, bad input data, a missing extra) end with
one line on stderr and exit status 1; a usage error exits with 2, as argparse does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

PROG = "netgraph"


class CommandError(Exception):
    """A problem to report in one line, without a traceback."""


def _parser() -> argparse.ArgumentParser:
    from netgraph import __version__
    from netgraph.demo import DEFAULT_ROUNDS

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Wolfram-style neural networks on numpy: run the demo, inspect or "
        "evaluate a saved net.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train a Conv/BatchNorm net on scikit-learn's 8x8 digits and write its files",
        description="Train the BatchNormalizationLayer reference page's application net "
        "(Conv -> BN -> Ramp blocks) on the 8x8 digits shipped with scikit-learn, report its "
        "test accuracy, and write the trained net, the loss plot and a confusion matrix.",
    )
    demo.add_argument(
        "--out", default="netgraph-output", metavar="DIR", help="output folder (%(default)s)"
    )
    demo.add_argument(
        "--rounds", type=_positive_int, default=DEFAULT_ROUNDS, metavar="N",
        help="training rounds (%(default)s)",
    )  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (%(default)s)")

    info = commands.add_parser("info", help="print the Information report of a saved net")
    info.add_argument("file", metavar="FILE", help="a net saved by ng.Export")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a saved net on the array in a .npy file",
        description="Evaluate a saved net on INPUT.npy (one example or a batch; a .npz with "
        "one array per input port for nets with several inputs). Prints the outputs, or saves "
        "them with --output (.npy, or .npz when the net has several outputs).",
    )
    evaluate.add_argument("file", metavar="FILE", help="a net saved by ng.Export")
    evaluate.add_argument("input", metavar="INPUT.npy", help="the input array (np.save)")
    evaluate.add_argument("--output", metavar="OUT.npy", help="save the outputs here")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _import_net(path: str):
    import netgraph as ng

    if os.path.isdir(path):
        raise CommandError(f"{path}: is a folder, not a saved net")
    try:
        return ng.Import(path)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except ng.NetLoadError as exc:
        raise CommandError(f"{path}: not a valid netgraph file: {exc}") from None
    except OSError as exc:
        raise CommandError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _load_input(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                data = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a folder, not a .npy file") from None
    except (ValueError, OSError, EOFError) as exc:
        # np.load raises ValueError for pickled (object) arrays and unreadable headers.
        raise CommandError(f"{path}: not a readable .npy/.npz array file ({exc})") from None
    return data


def cmd_demo(args: argparse.Namespace) -> None:
    from netgraph.demo import run_demo

    try:
        run_demo(out=args.out, rounds=args.rounds, seed=args.seed)
    except OSError as exc:
        name = exc.filename or args.out
        raise CommandError(f"{name}: cannot write: {exc.strerror or exc}") from None


def cmd_info(args: argparse.Namespace) -> None:
    import netgraph as ng

    net = _import_net(args.file)
    print(f"{args.file}: {net!r}")
    print(ng.Information(net))


def cmd_eval(args: argparse.Namespace) -> None:
    import netgraph as ng

    net = _import_net(args.file)
    data = _load_input(args.input)
    if not net.is_initialized():
        raise CommandError(f"{args.file}: the net is not initialized, so it cannot be evaluated")
    try:
        result = net(data, None)  # the numbers: a NetDecoder's labels are not an array
    except ng.NetError as exc:
        raise CommandError(f"{args.input}: cannot evaluate the net on this input: {exc}") from None
    if args.output:
        written = _save_output(args.output, result)
        print(f"wrote {_describe(result)} to {written}")
        return
    with np.printoptions(precision=5, suppress=True, threshold=2000, linewidth=100):
        if isinstance(result, dict):
            for port, value in result.items():
                print(f"{port} {value.shape}:\n{value}")
        else:
            print(np.asarray(result))


def _save_output(path: str, result: Any) -> str:
    """Write the outputs (.npy, or .npz with one array per port); return the file name."""
    several = isinstance(result, dict)
    suffix = ".npz" if several else ".npy"
    path = path if path.endswith(suffix) else path + suffix  # what numpy would write
    try:
        if several:
            np.savez(path, **{port: np.asarray(v) for port, v in result.items()})
        else:
            np.save(path, np.asarray(result), allow_pickle=False)
    except OSError as exc:
        raise CommandError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _describe(result: Any) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{port} {np.shape(v)}" for port, v in result.items())
    return f"an array of shape {np.shape(result)}"


COMMANDS = {"demo": cmd_demo, "info": cmd_info, "eval": cmd_eval}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success)."""
    args = _parser().parse_args(argv)
    import netgraph as ng
    from netgraph.demo import MissingExtraError

    try:
        COMMANDS[args.command](args)
    except (CommandError, MissingExtraError, ng.NetError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", status=130)
    return 0


def _fail(message: str, status: int = 1) -> int:
    line = " ".join(message.split()) or "failed"
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
