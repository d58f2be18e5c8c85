"""``sgmstream evaluate``, ``produce`` and ``demo``: the synthetic stream and offline runs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stream.commands.common import (
    EXIT_INTERRUPTED,
    add_broker_flags,
    add_csv_map,
    kafka_settings,
    local_broker,
    schema_registry,
    sigterm_as_interrupt,
)
from stream.progress import counted


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.cluster import SelfGrowthMap
    from stream.evaluation import run_evaluation
    from stream.pipeline import Pipeline
    from stream.recording import RecordingSource, open_input

    registry = schema_registry(args.schemas)
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
        f"{counted(len(report['drift_events']), 'drift event')}; "
        f"{report['throughput_rps']:,.0f} records/s; "
        f"report in {args.report}/report.json"
    )
    return 0


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
        with sigterm_as_interrupt():
            result = run(kafka_settings(args), path, speed=1.0, progress=sys.stderr)
    return EXIT_INTERRUPTED if result.interrupted else (1 if result.failed else 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from stream.settings import KafkaSettings, TopicSettings
    from stream.topics import create_topics, pipeline_topics

    broker, settings = local_broker(args)
    state, is_new = broker.start(port=settings.port, timeout=settings.start_timeout_s)
    verb = "started" if is_new else "already running"
    print(f"[1/5] Kafka {state.kafka_version} {verb} at {state.bootstrap_servers}")
    kafka = KafkaSettings(bootstrap_servers=state.bootstrap_servers)
    specs = pipeline_topics(TopicSettings(sources=_DEMO_SOURCES))
    created = create_topics(kafka, specs)
    print(f"[2/5] {len(specs)} topics ready ({sum(created.values())} created now)")
    return _demo_stream(kafka, Path(args.out))


_DEMO_SOURCES = ("sensors", "payments", "weblogs")


def _demo_stream(kafka, out: Path) -> int:
    from models.cluster import SelfGrowthMap
    from producers.replay import run as replay
    from producers.synthetic import SyntheticStream, write_recording
    from stream.broker import REPO_ROOT
    from stream.clients import start_group_at_ends
    from stream.evaluation import run_evaluation
    from stream.pipeline import Pipeline
    from stream.recording import RecordingSource
    from stream.schema import SchemaRegistry

    out.mkdir(parents=True, exist_ok=True)
    recording = out / "synthetic.jsonl.gz"
    # Event times ending now: the broker deletes records older than its retention (7 days).
    count = 20_000
    span_ms = count * SyntheticStream.interval_ms
    stream = SyntheticStream(count=count, seed=0, start_ms=int(time.time() * 1000) - span_ms)
    written = write_recording(stream, recording)
    topics = [f"records.{source}" for source in _DEMO_SOURCES]
    # A group of its own, starting where the topics end now: the demo's worker reads exactly
    # the records this run sends, whatever earlier runs left on the topics.
    group = f"sgm-demo-{int(time.time())}"
    start_group_at_ends(kafka, group, topics)
    sent = replay(kafka, recording, speed=float("inf"), progress=None)
    print(f"[3/5] {sent.sent} of {written} synthetic records sent to {', '.join(topics)}")
    registry = SchemaRegistry.load(REPO_ROOT / "deploy" / "schemas" / "synthetic.yaml")
    live = _demo_worker(kafka, registry, group, out, sent.sent)
    print(f"[4/5] a worker consumed them from the topics: {live.describe()}")
    pipeline = Pipeline(registry, model=SelfGrowthMap(seed=0))
    report = run_evaluation(RecordingSource(recording), pipeline, out / "report")
    metrics = report["metrics"]
    print(
        f"[5/5] the worker's code on the recording, scored against its labels: "
        f"ARI {metrics['ari']:.3f}, NMI {metrics['nmi']:.3f}, k found {metrics['k_found']} "
        f"(true {metrics['k_true']}), {counted(len(report['drift_events']), 'drift event')}, "
        f"{report['throughput_rps']:,.0f} records/s; report and plots in {out / 'report'}"
    )
    print(
        "Run a worker yourself: `sgmstream worker --schemas deploy/schemas/synthetic.yaml`. "
        "Not built yet: the aggregator and the dashboard. The broker keeps running; stop it "
        "with `sgmstream kafka down`."
    )
    return 0 if sent.sent == written == live.processed else 1


def _demo_worker(kafka, registry, group: str, out: Path, count: int):
    from consumers.worker import run

    checkpoint = out / "worker.json"
    checkpoint.unlink(missing_ok=True)  # a fresh map for a fresh group
    return run(
        kafka,
        registry,
        checkpoint,
        topics=",".join(f"records\\.{source}" for source in _DEMO_SOURCES),
        group_id=group,
        count=count,
        idle_s=30.0,  # never wait for ever, should records go missing
        name="demo",
    )


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
    add_csv_map(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)


def _add_produce_parser(commands) -> None:
    produce = commands.add_parser(
        "produce",
        help="generate the seeded three-source synthetic stream, to a file or to Kafka",
        description="Generate the synthetic stream of three heterogeneous sources (sensors, "
        "payments, weblogs; schemas in deploy/schemas/synthetic.yaml) with known clusters and "
        "one drift of a small cluster at 60 % of the stream. With --out, write a recording; "
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


def register(commands) -> None:
    _add_evaluate_parser(commands)
    _add_produce_parser(commands)
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
    add_broker_flags(demo)
    demo.set_defaults(run=cmd_demo)
