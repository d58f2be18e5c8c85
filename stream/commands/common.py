"""What every subcommand shares: settings at the edge, exit codes, signal handling."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
from pathlib import Path

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "add_broker_flags",
    "add_consumer_flags",
    "add_csv_map",
    "config",
    "kafka_settings",
    "local_broker",
    "schema_registry",
    "sigterm_as_interrupt",
]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def add_csv_map(parser: argparse.ArgumentParser, what: str = "FILE") -> None:
    """The ``--csv-map`` flag of every command that reads a recording: read ``what`` as CSV."""
    parser.add_argument(
        "--csv-map",
        metavar="ROLE=COLUMN,...",
        help=f"read {what} as CSV: source=COLUMN|NAME,event_time=COLUMN[,id=COLUMN]"
        "[,label=COLUMN][,features=A|B|C] (default features: all other columns)",
    )


def config(args: argparse.Namespace) -> dict:
    from stream.settings import load_config_file

    path = args.config or os.environ.get("SGM_CONFIG")
    return load_config_file(Path(path) if path else None)


def kafka_settings(args: argparse.Namespace):
    from stream.settings import KafkaSettings, load_settings

    flags = {"bootstrap_servers": getattr(args, "bootstrap_servers", None)}
    return load_settings(KafkaSettings, flags, config(args))


def local_broker(args: argparse.Namespace):
    from stream.broker import DEFAULT_HOME, LocalBroker
    from stream.settings import BrokerSettings, load_settings

    flags = {
        "port": getattr(args, "port", None),
        "data_dir": args.data_dir,
        "heap": getattr(args, "heap", None),
    }
    settings = load_settings(BrokerSettings, flags, config(args))
    broker = LocalBroker(
        data_dir=settings.data_dir or DEFAULT_HOME / "data",
        libs_dir=settings.libs_dir or DEFAULT_HOME / "libs",
        heap=settings.heap,
    )
    return broker, settings


def schema_registry(path: Path | None):
    """The schemas of ``--schemas``; without a file, every source is accepted and each
    field's type is inferred from its values."""
    from stream.schema import SchemaRegistry

    if path is None:
        return SchemaRegistry(unknown_sources="infer")
    return SchemaRegistry.load(path)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM stops record/replay like Ctrl+C: flushed, closed, and reported."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (tests): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_consumer_flags(parser: argparse.ArgumentParser) -> None:
    """What the long-running consumers (record, worker) read, and when they stop."""
    parser.add_argument(
        "--topics",
        default="records.*",
        help="regular expression over whole topic names, or several separated by commas "
        "(default: 'records.*', every source topic); new matching topics are picked up",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    parser.add_argument(
        "--idle", type=float, metavar="S", help="stop after S seconds without a message"
    )


def add_broker_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="broker data dir (config, logs, state); default .cache/kafka/data in the checkout",
    )
