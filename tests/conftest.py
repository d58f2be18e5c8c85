"""Session fixtures shared by the whole suite.

``kafka_broker`` starts one real Apache Kafka 4.x broker (KRaft, single node) on a free port
of 127.0.0.1 with its own temporary data dir, and always stops it: on success, on failure and
on Ctrl+C (pytest runs session finalizers on KeyboardInterrupt too).
"""

from __future__ import annotations

import logging
import time

import pytest

from stream.broker import LocalBroker, free_port
from stream.settings import KafkaSettings

log = logging.getLogger("sgmstream.tests")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    broker = LocalBroker(data_dir=tmp_path_factory.mktemp("kafka"))
    started = time.monotonic()
    state, _ = broker.start(port=free_port())
    log.info(
        "Apache Kafka %s broker up at %s in %.1f s (data %s)",
        state.kafka_version,
        state.bootstrap_servers,
        time.monotonic() - started,
        state.data_dir,
    )
    try:
        yield state
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)


_BROKER_SEEN: list[str] = []


@pytest.fixture(scope="session", autouse=False)
def broker_version_report(kafka_broker, kafka_settings):
    """Records which broker the suite really talked to, for the closing summary."""
    from stream.clients import admin_client

    admin = admin_client(kafka_settings)
    try:
        api = admin._client.check_version()
    finally:
        admin.close()
    _BROKER_SEEN.append(
        f"Apache Kafka {kafka_broker.kafka_version} at {kafka_broker.bootstrap_servers} "
        f"(API version {'.'.join(map(str, api))})"
    )
    return api


def pytest_terminal_summary(terminalreporter):
    for line in _BROKER_SEEN:
        terminalreporter.write_line(f"integration tests talked to {line}")
