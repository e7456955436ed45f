"""The `seq2seq` command: train, evaluate, export, translate, serve.

    seq2seq train --config configs/multi30k.yaml                 # run folder runs/multi30k, resumes if present
    seq2seq evaluate -m model.pt --data data/multi30k --split test_2016_flickr
    seq2seq export runs/multi30k -o model.pt
    seq2seq translate -m model.pt < input.de > output.en
    seq2seq serve -m model.pt --port 8000

`seq2seq COMMAND --help` lists a command's options; a command whose extra is not installed names it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

# Each subcommand is an entry point of this group (pyproject.toml): a function that adds one subparser, named
# like the entry point, importing no more than argparse; the command imports its code when it runs. The entry
# point's `[extra]` is what `pip install` brings its dependencies: a subcommand whose package or dependencies
# are not installed exits 2 with that one line instead of a traceback. This module knows no subcommand.
GROUP = "seq2seq.commands"
DISTRIBUTION = "seq2seq-nmt"


# Argument types of the subcommands' numeric options: a value out of range is an argparse error naming the
# option (`argument --beam: must be a positive integer, got '0'`, exit 2) before the command runs, never a
# value silently replaced by a default or one that fails later.
def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def non_negative_float(text: str) -> float:
    return _number(text, float, lambda v: 0 <= v < math.inf, "a finite number >= 0")  # NaN fails both


def _number(text: str, kind: type, ok: Callable[[Any], bool], what: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def install_hint(ep: EntryPoint) -> str | None:
    """`pip install 'seq2seq-nmt[train]'` for an entry point declared `module:function [train]`; None without."""
    if not ep.extras:
        return None
    dist = ep.dist.name if ep.dist is not None else DISTRIBUTION
    return f"pip install '{dist}[{','.join(ep.extras)}]'"


def _raiser(exc: ModuleNotFoundError) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise exc

    return run


def _add_unavailable(commands: argparse._SubParsersAction, ep: EntryPoint, exc: ModuleNotFoundError) -> None:
    """A placeholder that takes any arguments (no option prefix, so `--help` too) and says what to install."""
    parser = commands.add_parser(ep.name, help=f"not installed: {install_hint(ep)}", add_help=False, prefix_chars="\0")
    parser.add_argument("ignored", nargs="*", help=argparse.SUPPRESS)
    parser.set_defaults(func=_raiser(exc))


def registered() -> list[EntryPoint]:
    """The subcommands' entry points, by name."""
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for ep in registered():
        try:
            register = ep.load()
        except ModuleNotFoundError as exc:
            if not ep.extras:  # a core command: a missing module is a broken installation, not a missing extra
                raise
            _add_unavailable(commands, ep, exc)
        else:
            register(commands)
            if ep.name not in commands.choices:
                raise RuntimeError(f"entry point {ep.name} = {ep.value} added no subcommand {ep.name!r}")
        commands.choices[ep.name].set_defaults(install_hint=install_hint(ep))
    return parser


def main(argv: list[str] | None = None) -> int:
    if not registered():  # run from a checkout that was never installed
        print(
            f"seq2seq: no commands in the entry-point group {GROUP}: install the project (pip install -e .)",
            file=sys.stderr,
        )
        return 2
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a command that starts itself again
    try:
        return args.func(args)
    except ModuleNotFoundError as exc:
        if args.install_hint is None:
            raise
        print(f"seq2seq {args.command}: {exc.name} is not installed: {args.install_hint}", file=sys.stderr)
        return 2
    except (ValueError, OSError, FloatingPointError) as exc:  # OSError: a file that cannot be read or written
        print(f"seq2seq {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
