"""``sgmstream``: the one front door to every process and tool.

Each subcommand builds its settings at the edge (flags, then ``SGM_...`` environment variables,
then ``--config FILE``) and hands explicit objects to library code. Errors meant for the user
(:class:`~stream.exceptions.SgmError`) become one line on stderr and exit status 2; Ctrl+C exits
with 130. Producer and consumer commands are imported only when they run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stream.exceptions import SgmError

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Commands of the design that are not built yet: they say so instead of pretending.
_NOT_YET = {
    "worker": "the long-running clustering worker",
    "aggregator": "the asynchronous model aggregator",
    "dashboard": "the built-in live dashboard",
}


def _config(args: argparse.Namespace) -> dict:
    from stream.settings import load_config_file

    path = args.config or os.environ.get("SGM_CONFIG")
    return load_config_file(Path(path) if path else None)


def _kafka_settings(args: argparse.Namespace):
    from stream.settings import KafkaSettings, load_settings

    flags = {"bootstrap_servers": getattr(args, "bootstrap_servers", None)}
    return load_settings(KafkaSettings, flags, _config(args))


def _local_broker(args: argparse.Namespace):
    from stream.broker import DEFAULT_HOME, LocalBroker
    from stream.settings import BrokerSettings, load_settings

    flags = {
        "port": getattr(args, "port", None),
        "data_dir": args.data_dir,
        "heap": getattr(args, "heap", None),
    }
    settings = load_settings(BrokerSettings, flags, _config(args))
    broker = LocalBroker(
        data_dir=settings.data_dir or DEFAULT_HOME / "data",
        libs_dir=settings.libs_dir or DEFAULT_HOME / "libs",
        heap=settings.heap,
    )
    return broker, settings


def cmd_kafka_up(args: argparse.Namespace) -> int:
    broker, settings = _local_broker(args)
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
    broker, _ = _local_broker(args)
    state = broker.stop()
    if state is None:
        print(f"no local Kafka broker is running for {broker.data_dir}")
    else:
        print(f"stopped Kafka at {state.bootstrap_servers} (pid {state.pid})")
    return 0


def cmd_kafka_status(args: argparse.Namespace) -> int:
    from stream.broker import admin_reachable

    broker, _ = _local_broker(args)
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
    return load_settings(TopicSettings, flags, _config(args))


def cmd_topics_create(args: argparse.Namespace) -> int:
    from stream.topics import create_topics, pipeline_topics

    specs = pipeline_topics(_topic_settings(args))
    kafka = _kafka_settings(args)
    created = create_topics(kafka, specs)
    for spec in specs:
        configs = ", ".join(f"{k}={v}" for k, v in spec.configs.items())
        verb = "created" if created[spec.name] else "exists "
        print(f"{verb} {spec.name:<28} partitions={spec.partitions} {configs}".rstrip())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream.settings import KafkaSettings, TopicSettings
    from stream.topics import create_topics, pipeline_topics

    broker, settings = _local_broker(args)
    state, is_new = broker.start(port=settings.port, timeout=settings.start_timeout_s)
    verb = "started" if is_new else "already running"
    print(f"[1/4] Kafka {state.kafka_version} {verb} at {state.bootstrap_servers}")
    kafka = KafkaSettings(bootstrap_servers=state.bootstrap_servers)
    specs = pipeline_topics(TopicSettings(sources=_DEMO_SOURCES))
    created = create_topics(kafka, specs)
    print(f"[2/4] {len(specs)} topics ready ({sum(created.values())} created now)")
    return _demo_stream(kafka, Path(args.out))


_DEMO_SOURCES = ("sensors", "payments", "weblogs")


def _demo_stream(kafka, out: Path) -> int:
    from models.cluster import SelfGrowthMap
    from producers.replay import run as replay
    from producers.synthetic import SyntheticStream, write_recording
    from stream.broker import REPO_ROOT
    from stream.evaluation import run_evaluation
    from stream.pipeline import Pipeline
    from stream.recording import RecordingSource
    from stream.schema import SchemaRegistry

    out.mkdir(parents=True, exist_ok=True)
    recording = out / "synthetic.jsonl.gz"
    written = write_recording(SyntheticStream(count=20_000, seed=0), recording)
    sent = replay(kafka, recording, speed=float("inf"), progress=None)
    topics = ", ".join(f"records.{source}" for source in _DEMO_SOURCES)
    print(f"[3/4] {sent.sent} of {written} synthetic records sent to {topics}")
    registry = SchemaRegistry.load(REPO_ROOT / "deploy" / "schemas" / "synthetic.yaml")
    pipeline = Pipeline(registry, model=SelfGrowthMap(seed=0))
    report = run_evaluation(RecordingSource(recording), pipeline, out / "report")
    metrics = report["metrics"]
    print(
        f"[4/4] the worker's code on the same stream: ARI {metrics['ari']:.3f}, "
        f"NMI {metrics['nmi']:.3f}, k found {metrics['k_found']} (true {metrics['k_true']}), "
        f"{len(report['drift_events'])} drift events, {report['throughput_rps']:,.0f} records/s; "
        f"report and plots in {out / 'report'}"
    )
    print(
        "Not built yet: the long-running worker, aggregator and dashboard, so nothing consumes "
        "the topics live. The broker keeps running; stop it with `sgmstream kafka down`."
    )
    return 0 if sent.sent == written else 1


@contextlib.contextmanager
def _sigterm_as_interrupt():
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


def cmd_record(args: argparse.Namespace) -> int:
    from consumers.recorder import run

    schemas = None
    if args.schemas:
        from stream.schema import SchemaRegistry

        registry = SchemaRegistry.load(args.schemas)
        schemas = {name: schema.version for name, schema in registry.schemas.items()}
    with _sigterm_as_interrupt():
        result = run(
            _kafka_settings(args),
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

    with _sigterm_as_interrupt():
        result = run(
            _kafka_settings(args),
            args.file,
            speed=args.speed if args.speed is not None else 1.0,
            rate=args.rate,
            loop=args.loop,
            topic_map=parse_topic_map(args.topic_map),
            keep_partitions=args.keep_partitions,
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
    record.add_argument(
        "--topics",
        default="records.*",
        help="regular expression over whole topic names, or several separated by commas "
        "(default: 'records.*', every source topic); new matching topics are picked up",
    )
    record.add_argument("--out", required=True, type=Path, help="the recording file to write")
    record.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    record.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    record.add_argument(
        "--idle", type=float, metavar="S", help="stop after S seconds without a message"
    )
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
        "--keep-partitions",
        action="store_true",
        help="send each message to its recorded partition (default: partition by key)",
    )
    replay.add_argument(
        "--csv-map",
        metavar="ROLE=COLUMN,...",
        help="read FILE as CSV: source=COLUMN|NAME,event_time=COLUMN[,id=COLUMN][,label=COLUMN]"
        "[,features=A|B|C] (default features: all other columns)",
    )
    replay.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    replay.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    replay.set_defaults(run=cmd_replay)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.cluster import SelfGrowthMap
    from stream.evaluation import run_evaluation
    from stream.pipeline import Pipeline
    from stream.recording import RecordingSource, open_input

    registry = _registry(args.schemas)
    source = RecordingSource(open_input(args.file, args.csv_map))
    pipeline = Pipeline(registry, model=SelfGrowthMap(seed=args.seed))
    report = run_evaluation(
        source,
        pipeline,
        args.report,
        batch_size=args.batch_size,
        window=args.window,
        compare=args.compare,
        progress_stream=sys.stderr,
    )
    for error in source.errors[:20]:
        print(f"{args.file}: skipped {error}", file=sys.stderr)
    metrics = report["metrics"]
    scores = (
        f"ARI {metrics['ari']:.3f}, NMI {metrics['nmi']:.3f}, purity {metrics['purity']:.3f}, "
        if metrics["ari"] is not None
        else "no labels, "
    )
    print(
        f"{report['records']} records, {sum(report['deadletter'].values())} rejected; {scores}"
        f"k found {metrics['k_found']} (true {metrics['k_true']}); "
        f"{len(report['drift_events'])} drift events; {report['throughput_rps']:,.0f} records/s; "
        f"report in {args.report}/report.json"
    )
    return 0


def _registry(path: Path | None):
    from stream.schema import SchemaRegistry

    if path is None:
        # No schema file: accept every source and infer each field's type from its values.
        return SchemaRegistry(unknown_sources="infer")
    return SchemaRegistry.load(path)


def cmd_produce(args: argparse.Namespace) -> int:
    from producers.synthetic import SyntheticStream, write_recording

    if args.out is not None:
        stream = SyntheticStream(count=args.count, seed=args.seed, interval_ms=args.interval_ms)
        written = write_recording(stream, args.out)
        print(f"wrote {written} synthetic records ({stream.count} asked) to {args.out}")
        return 0
    return _produce_live(args)


def _produce_live(args: argparse.Namespace) -> int:
    import tempfile

    from producers.replay import run
    from producers.synthetic import SyntheticStream, write_recording

    # Event times start now, so that event lag is meaningful downstream.
    start_ms = int(time.time() * 1000)
    stream = SyntheticStream(args.count, args.seed, interval_ms=args.interval_ms, start_ms=start_ms)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "synthetic.jsonl.gz"
        write_recording(stream, path)
        with _sigterm_as_interrupt():
            result = run(_kafka_settings(args), path, speed=1.0, progress=sys.stderr)
    return EXIT_INTERRUPTED if result.interrupted else (1 if result.failed else 0)


def _add_evaluate_parser(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="run a recording through the worker's code offline and write a quality report",
        description="Run a recording (or a CSV file with --csv-map) through exactly the code a "
        "worker runs (validation, mixed-type encoding, Self-Growth Map, drift monitoring), as "
        "fast as possible and without a broker. Each batch is predicted before it is learned "
        "(prequential). With labels: ARI, NMI and purity per window and overall. Writes "
        "report.json, quality.png (scores and k over time, drift events marked) and map.png "
        "(the final map projected on two axes) into --report.",
    )
    evaluate.add_argument("file", type=Path, help="recording (.jsonl.gz / .jsonl) or CSV file")
    evaluate.add_argument(
        "--report", type=Path, default=Path("report"), help="output folder (default ./report)"
    )
    evaluate.add_argument(
        "--schemas",
        type=Path,
        help="source schema file (default: accept every source, infer field types)",
    )
    evaluate.add_argument("--batch-size", type=int, default=1000, help="records per batch")
    evaluate.add_argument("--window", type=int, default=1000, help="records per score window")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the model (default 0)")
    evaluate.add_argument(
        "--compare",
        action="store_true",
        help="also run river's DBSTREAM, DenStream and KMeans (given the true k) on the same "
        "encoded records (slow: per-record Python)",
    )
    evaluate.add_argument(
        "--csv-map", metavar="ROLE=COLUMN,...", help="read FILE as CSV (see `replay --help`)"
    )
    evaluate.set_defaults(run=cmd_evaluate)


def _add_produce_parser(commands) -> None:
    produce = commands.add_parser(
        "produce",
        help="generate the seeded three-source synthetic stream, to a file or to Kafka",
        description="Generate the synthetic stream of three heterogeneous sources (sensors, "
        "payments, weblogs; schemas in deploy/schemas/synthetic.yaml) with known clusters and "
        "one drift of a small cluster at 60 %% of the stream. With --out, write a recording; "
        "otherwise produce to records.<source> in real time (event times start now).",
    )
    produce.add_argument("--out", type=Path, help="write a recording file instead of producing")
    produce.add_argument("--count", type=int, default=20_000, help="records (default 20000)")
    produce.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    produce.add_argument(
        "--interval-ms", type=int, default=10, help="event-time gap between records (default 10)"
    )
    produce.add_argument("--bootstrap-servers", help="Kafka address (default 127.0.0.1:9092)")
    produce.set_defaults(run=cmd_produce)


def _not_yet(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"sgmstream {name}: {_NOT_YET[name]} is not built yet.", file=sys.stderr)
        return EXIT_USAGE

    return run


def _add_broker_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="broker data dir (config, logs, state); default .cache/kafka/data in the checkout",
    )


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

    kafka = commands.add_parser("kafka", help="run a local single-node Kafka broker (KRaft)")
    kafka_commands = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = kafka_commands.add_parser("up", help="start the broker (fetches its jars on first use)")
    up.add_argument("--port", type=int, help="client port on 127.0.0.1 (default 9092)")
    up.add_argument("--heap", help="JVM maximum heap (default 512m)")
    _add_broker_flags(up)
    up.set_defaults(run=cmd_kafka_up)
    down = kafka_commands.add_parser("down", help="stop the broker (SIGTERM, then SIGKILL)")
    _add_broker_flags(down)
    down.set_defaults(run=cmd_kafka_down)
    status = kafka_commands.add_parser("status", help="is it running and answering?")
    _add_broker_flags(status)
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

    demo = commands.add_parser(
        "demo",
        help="everything on one machine",
        description="Start the local broker, create the topics, send the seeded synthetic "
        "three-source stream onto them, and run the worker's code on the same stream offline, "
        "writing a quality report with plots.",
    )
    demo.add_argument("--port", type=int, help="broker port (default 9092)")
    demo.add_argument(
        "--out", default=".cache/demo", help="where the recording and report go (.cache/demo)"
    )
    _add_broker_flags(demo)
    demo.set_defaults(run=cmd_demo)

    _add_record_parser(commands)
    _add_replay_parser(commands)
    _add_evaluate_parser(commands)
    _add_produce_parser(commands)
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
