"""``sgmstream record`` and ``sgmstream replay``: topics to files and back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.commands.common import (
    EXIT_INTERRUPTED,
    add_consumer_flags,
    add_csv_map,
    kafka_settings,
    sigterm_as_interrupt,
)


def cmd_record(args: argparse.Namespace) -> int:
    from consumers.recorder import run

    schemas = None
    if args.schemas:
        from stream.schema import SchemaRegistry

        registry = SchemaRegistry.load(args.schemas)
        schemas = {name: schema.version for name, schema in registry.schemas.items()}
    with sigterm_as_interrupt():
        result = run(
            kafka_settings(args),
            args.out,
            topics=args.topics,
            duration_s=args.duration,
            count=args.count,
            idle_s=args.idle,
            start=args.start,
            group_id=args.group,
            schemas=schemas,
            progress=sys.stderr,
        )
    return EXIT_INTERRUPTED if result.interrupted else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from producers.replay import parse_topic_map, run

    with sigterm_as_interrupt():
        result = run(
            kafka_settings(args),
            args.file,
            speed=args.speed if args.speed is not None else 1.0,
            rate=args.rate,
            loop=args.loop,
            topic_map=parse_topic_map(args.topic_map),
            keep_partitions=args.keep_partitions,
            now=args.now,
            csv_map=args.csv_map,
            stop_after=args.count,
            progress=sys.stderr,
        )
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0


def _add_record_parser(commands) -> None:
    record = commands.add_parser(
        "record",
        help="capture topics into a recording file (gzip JSON lines)",
        description="Capture Kafka topics into a recording: gzip-compressed JSON lines, one "
        "message per line with its topic, partition, offset, key, timestamp and record. Stops "
        "after --duration, --count or --idle, or on Ctrl+C; the file is complete in every case. "
        "Progress (messages, rate, file size) goes to stderr.",
    )
    add_consumer_flags(record)
    record.add_argument("--out", required=True, type=Path, help="the recording file to write")
    record.add_argument(
        "--from",
        dest="start",
        choices=("latest", "earliest"),
        default="latest",
        help="latest (default): what arrives from now on; earliest: what the topics still hold",
    )
    record.add_argument(
        "--group",
        help="join this consumer group and commit what the file holds (default: no group, "
        "no commits, every partition)",
    )
    record.add_argument(
        "--schemas", type=Path, help="schema file: its source versions go into the header"
    )
    record.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    record.set_defaults(run=cmd_record)


def _add_replay_parser(commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="produce a recording back onto topics with its original timing",
        description="Produce a recording (or a CSV file with --csv-map) back onto its topics, "
        "keeping the recorded gaps between messages (scaled by --speed, or flattened to "
        "--rate) and each message's timestamp (a record's event time) as its Kafka timestamp. "
        "Bad lines are reported with their line numbers and skipped. Ctrl+C flushes and says "
        "how far the replay got (exit 130).",
    )
    replay.add_argument("file", type=Path, help="recording (.jsonl.gz / .jsonl) or CSV file")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="play X times faster than recorded (default 1; 'inf': as fast as possible)",
    )
    pace.add_argument(
        "--rate", type=float, metavar="R", help="ignore recorded gaps: R messages per second"
    )
    replay.add_argument(
        "--loop",
        action="store_true",
        help="start again at the end, forever; each pass moves timestamps and event times on "
        "by the recording's span",
    )
    replay.add_argument(
        "--topic-map",
        metavar="OLD=NEW,...",
        help="send messages of topic OLD to NEW (others keep their recorded topic)",
    )
    replay.add_argument(
        "--now",
        action="store_true",
        help="move every timestamp and event time so that the recording starts now (gaps "
        "kept); needed for recordings older than the topics' retention (7 days by default), "
        "which the broker would delete",
    )
    replay.add_argument(
        "--keep-partitions",
        action="store_true",
        help="send each message to its recorded partition (default: partition by key)",
    )
    add_csv_map(replay)
    replay.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    replay.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    replay.set_defaults(run=cmd_replay)


def register(commands) -> None:
    _add_record_parser(commands)
    _add_replay_parser(commands)
