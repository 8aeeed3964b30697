"""The `netgraph` command: the digits demo, and a look inside or through a saved net.

    netgraph demo [--out DIR] [--rounds N] [--seed S] [--resume CHECKPOINT]
                                                        train the digits net, write its files
    netgraph info FILE                                  the Information report of a saved net
    netgraph eval FILE INPUT.npy [--output OUT.npy]     evaluate a saved net on an array

Problems a user can cause (a missing or damaged file, bad input data, a missing extra) end with
one line on stderr and exit status 1; a usage error exits with 2, as argparse does (so do a
`--out` that is a file and an `--output` without the suffix its format needs: files are written
exactly where named, never renamed). Ctrl-C exits with 130 after one line, which names the
checkpoint NetTrain wrote when training was interrupted; `demo --resume CHECKPOINT` continues it.
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


class UsageError(CommandError):
    """A bad argument found after parsing (exit status 2, as for argparse's usage errors)."""


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
        "--out",
        default="netgraph-output",
        metavar="DIR",
        help="output folder, created if missing; an existing file there is an error (%(default)s)",
    )
    demo.add_argument(
        "--rounds", type=_positive_int, default=DEFAULT_ROUNDS, metavar="N",
        help="training rounds (%(default)s)",
    )  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (%(default)s)")
    demo.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue an interrupted demo from the checkpoint Ctrl-C named (same --seed)",
    )

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
    evaluate.add_argument(
        "--output",
        metavar="OUT.npy",
        help="save the outputs to exactly this file, which must end in .npy (.npz when the net "
        "has several outputs); any other name is an error, nothing is renamed",
    )
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
    from netgraph.demo import OutputFolderError, run_demo

    try:
        run_demo(out=args.out, rounds=args.rounds, seed=args.seed, resume=args.resume)
    except OutputFolderError as exc:
        raise UsageError(f"--out {exc}") from None
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
    if args.output:
        _check_output_name(args.output, several=len(net.output_shapes) > 1)
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


def _check_output_name(path: str, several: bool) -> None:
    """UsageError unless `path` ends in the suffix of the format written (checked before any
    work): the file is written under exactly this name, so the name must tell its format."""
    suffix = ".npz" if several else ".npy"
    if not path.lower().endswith(suffix):
        what = "several outputs, saved as one .npz" if several else "one output, saved as .npy"
        raise UsageError(
            f"--output {path}: the name must end in {suffix} (the net has {what}); "
            "files are written exactly as named, never renamed, so nothing was written"
        )


def _save_output(path: str, result: Any) -> str:
    """Write the outputs to exactly `path` (.npy, or .npz with one array per port)."""
    try:
        with open(path, "wb") as f:  # a file object: numpy appends no suffix
            if isinstance(result, dict):
                np.savez(f, **{port: np.asarray(v) for port, v in result.items()})
            else:
                np.save(f, np.asarray(result), allow_pickle=False)
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
    try:
        args = _parser().parse_args(argv)
        import netgraph as ng
        from netgraph.demo import MissingExtraError

        try:
            COMMANDS[args.command](args)
        except UsageError as exc:
            return _fail(str(exc), status=2)
        except (CommandError, MissingExtraError, ng.NetError) as exc:
            return _fail(str(exc))
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    return 0


def _fail(message: str, status: int = 1) -> int:
    line = " ".join(message.split()) or "failed"
    print(f"{PROG}: error: {line}", file=sys.stderr)
    return status


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Exit status 130 after one line; NetTrain's message (the checkpoint it wrote, or why it
    could not) is the interrupt's own text, printed here once."""
    detail = str(exc)
    print(f"{PROG}: interrupted" + (f"; {detail}" if detail else ""), file=sys.stderr)
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
