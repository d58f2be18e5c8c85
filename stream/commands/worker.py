"""``sgmstream worker``: the long-running clustering consumer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stream.commands.common import add_consumer_flags, config, kafka_settings, schema_registry

DEFAULT_CHECKPOINT = Path(".cache/worker/checkpoint.json")
DEFAULT_METRICS_PORT = 9108


def cmd_worker(args: argparse.Namespace) -> int:
    from consumers.worker import run
    from stream.settings import TopicSettings, load_settings

    run(
        kafka_settings(args),
        schema_registry(args.schemas),
        args.checkpoint,
        topics=args.topics,
        group_id=args.group,
        start=args.start,
        names=load_settings(TopicSettings, {}, config(args)),
        batch_size=args.batch_size,
        checkpoint_every_s=args.checkpoint_every,
        duration_s=args.duration,
        count=args.count,
        idle_s=args.idle,
        name=args.name,
        seed=args.seed,
        metrics_port=args.metrics_port,
        progress=sys.stderr,
    )
    # A signal is the normal way to stop a long-running worker, not an error.
    return 0


def register(commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="consume records topics, cluster and watch for drift, live (long-running)",
        description="Consume the records topics as a member of a consumer group, run each "
        "batch through validation, mixed-type encoding, the Self-Growth Map and drift "
        "monitoring (the code `sgmstream evaluate` runs on recordings), and write each "
        "record's cluster and every drift event to sgm.assignments and every invalid message, "
        "untouched, with its reason, to sgm.deadletter. State is checkpointed to a JSON file "
        "before offsets are committed (at-least-once: a killed worker restarts from its last "
        "checkpoint and loses no record). SIGTERM or Ctrl+C: finish the batch, checkpoint, "
        "commit, exit. Start several with the same --group (and each its own --checkpoint) to "
        "spread the partitions.",
    )
    add_consumer_flags(worker)
    worker.add_argument(
        "--schemas",
        type=Path,
        help="source schema file (default: accept every source, infer field types)",
    )
    worker.add_argument(
        "--group", default="sgm-workers", help="consumer group (default sgm-workers)"
    )
    worker.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help=f"this worker's state file, resumed from if it exists (default {DEFAULT_CHECKPOINT})",
    )
    worker.add_argument(
        "--checkpoint-every",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between checkpoints and offset commits (default 5): at most this much "
        "work is redone after a crash",
    )
    worker.add_argument(
        "--from",
        dest="start",
        choices=("earliest", "latest"),
        default="earliest",
        help="where a group without committed offsets starts: earliest (default, everything "
        "the topics hold) or latest",
    )
    worker.add_argument("--batch-size", type=int, default=1000, help="messages per batch")
    worker.add_argument(
        "--name",
        help="worker name in its outputs, and its static group membership: restarted under the "
        "same name it gets its partitions back at once (default: host-pid, a new member each "
        "run)",
    )
    worker.add_argument("--seed", type=int, default=0, help="seed of a new model (default 0)")
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        metavar="PORT",
        help=f"serve Prometheus metrics on http://0.0.0.0:PORT/metrics (default "
        f"{DEFAULT_METRICS_PORT}; 0: none); give each worker on one machine its own",
    )
    worker.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    worker.set_defaults(run=cmd_worker)
