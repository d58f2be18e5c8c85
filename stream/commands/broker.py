"""``sgmstream kafka up|down|status`` and ``sgmstream topics create``."""

from __future__ import annotations

import argparse
import time

from stream.commands.common import (
    add_broker_flags,
    config,
    kafka_settings,
    local_broker,
)


def cmd_kafka_up(args: argparse.Namespace) -> int:
    broker, settings = local_broker(args)
    started = time.monotonic()
    state, is_new = broker.start(port=settings.port, timeout=settings.start_timeout_s)
    if not is_new:
        print(
            f"Kafka {state.kafka_version} is already running at {state.bootstrap_servers} "
            f"(pid {state.pid}, data {state.data_dir})"
        )
        return 0
    print(
        f"Kafka {state.kafka_version} is up at {state.bootstrap_servers} in "
        f"{time.monotonic() - started:.1f} s (pid {state.pid}, data {state.data_dir}, "
        f"log {broker.log_path}); stop it with `sgmstream kafka down`"
    )
    return 0


def cmd_kafka_down(args: argparse.Namespace) -> int:
    broker, _ = local_broker(args)
    state = broker.stop()
    if state is None:
        print(f"no local Kafka broker is running for {broker.data_dir}")
    else:
        print(f"stopped Kafka at {state.bootstrap_servers} (pid {state.pid})")
    return 0


def cmd_kafka_status(args: argparse.Namespace) -> int:
    from stream.broker import admin_reachable

    broker, _ = local_broker(args)
    state = broker.state()
    if state is None:
        print(f"not running (data dir {broker.data_dir}); start it with `sgmstream kafka up`")
        return 1
    health = "answering" if admin_reachable(state.bootstrap_servers) else "NOT answering"
    print(
        f"Kafka {state.kafka_version} running at {state.bootstrap_servers}, {health} "
        f"(pid {state.pid}, up {time.time() - state.started_at:.0f} s, data {state.data_dir})"
    )
    return 0 if health == "answering" else 1


def _topic_settings(args: argparse.Namespace):
    from stream.settings import TopicSettings, load_settings

    sources = tuple(s for s in (args.sources or "").split(",") if s) or None
    flags = {"sources": sources, "partitions": args.partitions}
    return load_settings(TopicSettings, flags, config(args))


def cmd_topics_create(args: argparse.Namespace) -> int:
    from stream.topics import create_topics, pipeline_topics

    specs = pipeline_topics(_topic_settings(args))
    kafka = kafka_settings(args)
    created = create_topics(kafka, specs)
    for spec in specs:
        configs = ", ".join(f"{k}={v}" for k, v in spec.configs.items())
        verb = "created" if created[spec.name] else "exists "
        print(f"{verb} {spec.name:<28} partitions={spec.partitions} {configs}".rstrip())
    return 0


def register(commands) -> None:
    kafka = commands.add_parser("kafka", help="run a local single-node Kafka broker (KRaft)")
    kafka_commands = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = kafka_commands.add_parser("up", help="start the broker (fetches its jars on first use)")
    up.add_argument("--port", type=int, help="client port on 127.0.0.1 (default 9092)")
    up.add_argument("--heap", help="JVM maximum heap (default 512m)")
    add_broker_flags(up)
    up.set_defaults(run=cmd_kafka_up)
    down = kafka_commands.add_parser("down", help="stop the broker (SIGTERM, then SIGKILL)")
    add_broker_flags(down)
    down.set_defaults(run=cmd_kafka_down)
    status = kafka_commands.add_parser("status", help="is it running and answering?")
    add_broker_flags(status)
    status.set_defaults(run=cmd_kafka_status)

    topics = commands.add_parser("topics", help="manage the pipeline's topics")
    topic_commands = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = topic_commands.add_parser(
        "create",
        help="create records.<source>, sgm.assignments, sgm.updates, sgm.deadletter and "
        "the compacted sgm.global (idempotent)",
    )
    create.add_argument("--sources", help="comma-separated source names, e.g. sensors,payments")
    create.add_argument("--partitions", type=int, help="partitions per records topic (default 4)")
    create.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    create.set_defaults(run=cmd_topics_create)
