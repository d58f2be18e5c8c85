"""The command line: one clear line for every user mistake, and the local broker lifecycle."""

from __future__ import annotations

import json

import pytest

from stream.broker import free_port
from stream.cli import build_parser, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_clear_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_bad_flag_is_reported_by_argparse(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["kafka", "up", "--port", "abc"])
    assert stop.value.code == 2
    assert "invalid int value: 'abc'" in capsys.readouterr().err


def test_bad_environment_value_names_the_variable(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SGM_BROKER_PORT", "abc")
    code, _, err = run(capsys, "kafka", "up", "--data-dir", str(tmp_path))
    assert code == 2
    assert "SGM_BROKER_PORT" in one_clear_line(err)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("broker: [unclosed", "not valid YAML/JSON"),
        ("- a list", "must map section names"),
        ("broker:\n  prot: 1\n", "unknown setting 'prot' under 'broker:'"),
        ("broker:\n  port: many\n", "setting 'port' is invalid"),
    ],
)
def test_bad_config_file_gets_one_line(capsys, tmp_path, text, message):
    config = tmp_path / "sgm.yaml"
    config.write_text(text)
    code, _, err = run(capsys, "--config", str(config), "kafka", "status")
    assert code == 2
    assert message in one_clear_line(err)


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.yaml"), "kafka", "status")
    assert code == 2
    assert "cannot read config file" in one_clear_line(err)


def test_flags_beat_environment_beat_config_file(monkeypatch, tmp_path):
    from stream.settings import BrokerSettings, load_config_file, load_settings

    config = tmp_path / "sgm.yaml"
    config.write_text("broker:\n  port: 1111\n  heap: 1g\n  start_timeout_s: 5\n")
    sections = load_config_file(config)
    monkeypatch.setenv("SGM_BROKER_HEAP", "2g")
    monkeypatch.setenv("SGM_BROKER_PORT", "2222")
    settings = load_settings(BrokerSettings, {"port": 3333, "heap": None}, sections)
    assert (settings.port, settings.heap, settings.start_timeout_s) == (3333, "2g", 5.0)


def test_missing_java_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(capsys, "kafka", "up", "--data-dir", str(tmp_path / "d"))
    assert code == 2
    assert "`java` is not installed" in one_clear_line(err)


def test_topics_create_needs_sources(capsys):
    code, _, err = run(capsys, "topics", "create", "--bootstrap-servers", "127.0.0.1:1")
    assert code == 2
    assert "no sources named" in one_clear_line(err)


def test_commands_not_built_yet_say_so(capsys):
    code, _, err = run(capsys, "dashboard")
    assert code == 2
    assert "not built yet" in one_clear_line(err)


@pytest.mark.kafka
def test_unreachable_broker_is_one_line(capsys):
    code, _, err = run(
        capsys,
        "topics",
        "create",
        "--sources",
        "a",
        "--bootstrap-servers",
        f"127.0.0.1:{free_port()}",
    )
    assert code == 2
    assert "cannot reach Kafka" in one_clear_line(err)


@pytest.mark.kafka
def test_topics_create_through_the_cli(capsys, kafka_broker):
    argv = ["topics", "create", "--sources", "cli1", "--partitions", "2"]
    argv += ["--bootstrap-servers", kafka_broker.bootstrap_servers]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "created records.cli1" in out
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "exists  records.cli1" in out
    assert "cleanup.policy=compact" in out


@pytest.mark.kafka
def test_local_broker_up_status_down_repeatedly(capsys, tmp_path, kafka_broker):
    data = ["--data-dir", str(tmp_path / "broker")]
    port = str(free_port())
    code, out, _ = run(capsys, "kafka", "status", *data)
    assert (code, "not running" in out) == (1, True)
    for _ in range(2):
        code, out, _ = run(capsys, "kafka", "up", "--port", port, *data)
        assert code == 0 and "is up at 127.0.0.1:" + port in out
        code, out, _ = run(capsys, "kafka", "up", "--port", port, *data)
        assert code == 0 and "already running" in out
        code, out, _ = run(capsys, "kafka", "status", *data)
        assert code == 0 and "answering" in out
        code, out, _ = run(capsys, "kafka", "down", *data)
        assert code == 0 and "stopped Kafka" in out
        code, out, _ = run(capsys, "kafka", "down", *data)
        assert code == 0 and "no local Kafka broker is running" in out


@pytest.mark.kafka
def test_port_in_use_is_one_line(capsys, tmp_path, kafka_broker):
    argv = ["kafka", "up", "--port", str(kafka_broker.port), "--data-dir", str(tmp_path / "b")]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert f"port {kafka_broker.port} is already in use" in one_clear_line(err)


@pytest.mark.kafka
def test_demo_sends_the_stream_and_reports(capsys, tmp_path, kafka_broker):
    argv = ["demo", "--data-dir", kafka_broker.data_dir, "--out", str(tmp_path)]
    code, out, _ = run(capsys, *argv)
    assert code == 0, out
    assert f"already running at {kafka_broker.bootstrap_servers}" in out
    assert "20000 of 20000 synthetic records sent" in out
    assert "a worker consumed them from the topics: 20,000 messages" in out
    assert "Not built yet" in out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["records"] == 20_000


@pytest.mark.kafka
def test_cluster_id_starting_with_a_dash_formats(monkeypatch, tmp_path, kafka_broker):
    # One id in 64 starts with "-"; the storage tool must not read it as an option.
    import stream.broker

    monkeypatch.setattr(stream.broker, "new_cluster_id", lambda: "-" + "A" * 21)
    broker = stream.broker.LocalBroker(data_dir=tmp_path / "dash")
    _, started = broker.start(port=free_port())
    try:
        assert started
        assert "cluster.id=-AAAA" in (tmp_path / "dash" / "logs" / "meta.properties").read_text()
    finally:
        broker.stop()


@pytest.mark.kafka
def test_produce_sends_the_synthetic_stream_live(capsys, tmp_path, kafka_broker):
    import time

    from stream.recording import read_recording

    servers = ["--bootstrap-servers", kafka_broker.bootstrap_servers]
    run(capsys, "topics", "create", "--sources", "sensors,payments,weblogs", *servers)
    started_ms = int(time.time() * 1000)
    code, _, _ = run(capsys, "produce", "--count", "200", "--interval-ms", "5", *servers)
    assert code == 0
    out = tmp_path / "live.jsonl.gz"
    argv = ["record", "--out", str(out), "--from", "earliest", "--idle", "3", *servers]
    assert run(capsys, *argv)[0] == 0
    messages = [m for _, m in read_recording(out) if m.timestamp_ms >= started_ms]
    assert len(messages) == 200
    # Event times start when produce starts, so event lag downstream is meaningful.
    assert max(m.timestamp_ms for m in messages) <= int(time.time() * 1000)


def _all_parsers(parser):
    """The parser and every subcommand's parser, depth first."""
    yield parser
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for sub in dict.fromkeys(action.choices.values()):
            yield from _all_parsers(sub)


def test_every_help_text_renders_plainly():
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 5
    for parser in parsers:
        text = parser.format_help()
        # argparse leaves a description's "%%" as it is: the reader would see it doubled.
        assert "%%" not in text, parser.prog


def test_worker_with_an_unreadable_checkpoint_is_one_line(capsys, tmp_path):
    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "worker", "--checkpoint", str(bad), "--bootstrap-servers", "x:1")
    assert code == 2
    assert "move it away to start from scratch" in one_clear_line(err)


def test_worker_bad_interval_is_one_line(capsys, tmp_path):
    argv = ["worker", "--checkpoint", str(tmp_path / "w.json"), "--checkpoint-every", "0"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--checkpoint-every must be > 0" in one_clear_line(err)


def test_worker_metrics_port_in_use_is_one_line(capsys, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["worker", "--checkpoint", str(tmp_path / "w.json"), "--metrics-port", str(port)]
        code, _, err = run(capsys, *argv)
    assert code == 2
    assert f"cannot serve metrics on port {port}" in one_clear_line(err)
