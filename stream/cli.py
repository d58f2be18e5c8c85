"""``sgmstream``: the one front door to every process and tool.

Each subcommand builds its settings at the edge (flags, then ``SGM_...`` environment variables,
then ``--config FILE``) and hands explicit objects to library code. Errors meant for the user
(:class:`~stream.exceptions.SgmError`) become one line on stderr and exit status 2; Ctrl+C exits
with 130. The subcommands live in :mod:`stream.commands`; what they need from producers,
consumers and models is imported only when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from stream.commands import broker, evaluation, recording, schemas, worker
from stream.commands.common import EXIT_INTERRUPTED, EXIT_USAGE
from stream.exceptions import SgmError

__all__ = ["main"]

# Commands of the design that are not built yet: they say so instead of pretending.
_NOT_YET = {
    "aggregator": "the asynchronous model aggregator",
    "dashboard": "the built-in live dashboard",
}


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"sgmstream {name}: {_NOT_YET[name]} is not built yet.", file=sys.stderr)
        return EXIT_USAGE

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgmstream",
        description="Streaming continual learning on Kafka: Self-Growth Map clustering, "
        "drift detection and an asynchronously shared model.",
    )
    parser.add_argument(
        "--config", help="YAML/JSON settings file (also SGM_CONFIG); flags and env win over it"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (broker, evaluation, recording, schemas, worker):
        group.register(commands)
    for name, what in _NOT_YET.items():
        commands.add_parser(name, help=f"{what} (not built yet)").set_defaults(run=_not_yet(name))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SgmError as exc:
        print(f"sgmstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("sgmstream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
