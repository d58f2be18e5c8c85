"""A real single-node Apache Kafka broker on this machine, without Docker.

The broker jars are resolved from Maven Central by ``deploy/kafka/pom.xml`` into a git-ignored
cache. :class:`LocalBroker` renders the KRaft config, formats the storage once per data dir,
starts ``kafka.Kafka`` with a bounded heap, waits until an admin connection succeeds and stops
the process by pid. Its state (pid, ports, version) lives in ``<data-dir>/broker.json`` so that
``sgmstream kafka status`` / ``down`` find a broker started by another process.

Every failure a user can meet (no ``java``, no ``mvn``, a port in use, a broker that dies on
start) raises :class:`~stream.exceptions.BrokerError` with one line saying what to do.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from stream.exceptions import BrokerError

__all__ = ["BrokerState", "LocalBroker", "free_port", "resolve_jars"]

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_DEPLOY = REPO_ROOT / "deploy" / "kafka"
DEFAULT_HOME = REPO_ROOT / ".cache" / "kafka"

_STATE_FILE = "broker.json"
_LOG_FILE = "broker.log"


@dataclass(frozen=True)
class BrokerState:
    """What ``kafka up`` left behind: enough to reach, report on and stop the broker."""

    pid: int
    port: int
    controller_port: int
    data_dir: str
    kafka_version: str
    started_at: float

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes as 22 characters of URL-safe base64."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(f"`{tool}` is not installed: {hint}")
    return path


def kafka_version(libs_dir: Path) -> str:
    """The broker version of the jars in ``libs_dir`` (from ``kafka_2.13-<version>.jar``)."""
    for jar in sorted(libs_dir.glob("kafka_2.13-*.jar")):
        version = jar.stem.removeprefix("kafka_2.13-")
        if version[:1].isdigit():
            return version
    raise BrokerError(f"no Kafka broker jar in {libs_dir}: run `make kafka-jars`")


def resolve_jars(libs_dir: Path, pom: Path = KAFKA_DEPLOY / "pom.xml") -> Path:
    """Resolve the broker jars into ``libs_dir`` with Maven unless they are already there."""
    if any(libs_dir.glob("kafka_2.13-*.jar")):
        return libs_dir
    mvn = _require("mvn", "install Maven (apt-get install maven) to fetch the broker jars")
    if not pom.is_file():
        raise BrokerError(f"broker POM not found at {pom}: run from a sgmstream checkout")
    libs_dir.mkdir(parents=True, exist_ok=True)
    command = [
        mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={libs_dir}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(libs_dir.glob("kafka_2.13-*.jar")):
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
        raise BrokerError(f"Maven could not resolve the broker jars ({last[0]}); see {pom}")
    return libs_dir


class LocalBroker:
    """One local KRaft broker, identified by its data dir.

    Parameters
    ----------
    data_dir
        Holds the rendered config, the Kafka log dirs, ``broker.json`` and ``broker.log``.
    libs_dir
        Where the broker jars are (resolved with Maven on first start).
    heap
        JVM maximum heap, e.g. ``512m``.
    """

    def __init__(
        self,
        data_dir: Path = DEFAULT_HOME / "data",
        libs_dir: Path = DEFAULT_HOME / "libs",
        heap: str = "512m",
    ):
        self.data_dir = Path(data_dir).resolve()
        self.libs_dir = Path(libs_dir).resolve()
        self.heap = heap

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_FILE

    def state(self) -> BrokerState | None:
        """The running broker of this data dir, or ``None`` (a stale state file is removed)."""
        path = self.data_dir / _STATE_FILE
        try:
            state = BrokerState(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _alive(state.pid):
            path.unlink(missing_ok=True)
            return None
        return state

    def start(self, port: int | None = None, timeout: float = 90.0) -> tuple[BrokerState, bool]:
        """Start the broker (or find it running); returns its state and whether it was started."""
        running = self.state()
        if running is not None:
            return running, False
        java = _require("java", "install Java 17 (apt-get install openjdk-17-jre-headless)")
        resolve_jars(self.libs_dir)
        port = port or 9092
        if _port_in_use(port):
            raise BrokerError(f"port {port} is already in use: pick another with --port N")
        controller_port = free_port()
        while controller_port == port:
            controller_port = free_port()
        config = self._write_config(port, controller_port)
        self._format_storage(java, config)
        process = self._launch(java, config)
        state = BrokerState(
            pid=process.pid,
            port=port,
            controller_port=controller_port,
            data_dir=str(self.data_dir),
            kafka_version=kafka_version(self.libs_dir),
            started_at=time.time(),
        )
        try:
            self._wait_ready(process, state, timeout)
        except BaseException:
            _terminate(process.pid, grace=10.0)
            raise
        (self.data_dir / _STATE_FILE).write_text(json.dumps(asdict(state)))
        return state, True

    def stop(self, timeout: float = 30.0) -> BrokerState | None:
        """SIGTERM the broker, wait for its controlled shutdown, SIGKILL if it hangs."""
        state = self.state()
        if state is None:
            return None
        _terminate(state.pid, grace=timeout)
        (self.data_dir / _STATE_FILE).unlink(missing_ok=True)
        return state

    def _classpath(self) -> str:
        return f"{self.libs_dir}/*"

    def _write_config(self, port: int, controller_port: int) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        template = (KAFKA_DEPLOY / "server.properties.in").read_text()
        rendered = template.format(
            port=port, controller_port=controller_port, log_dir=self.data_dir / "logs"
        )
        config = self.data_dir / "server.properties"
        config.write_text(rendered)
        return config

    def _format_storage(self, java: str, config: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return  # formatted before: the cluster id and node id live there
        cluster_id = new_cluster_id()
        command = [
            java, "-Xmx256m", "-cp", self._classpath(), "kafka.tools.StorageTool", "format",
            # "=" form: a base64 id may start with "-" and would be read as an option.
            "--standalone", f"--cluster-id={cluster_id}", "-c", str(config),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BrokerError(f"formatting {self.data_dir / 'logs'} failed: {detail[0]}")

    def _launch(self, java: str, config: Path) -> subprocess.Popen:
        env = dict(os.environ)
        log4j = KAFKA_DEPLOY / "log4j2.properties"
        command = [
            java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}", "-Djava.awt.headless=true",
            "-cp", self._classpath(), "kafka.Kafka", str(config),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl+C in the terminal that ran `kafka up` must not kill it.
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )

    def _wait_ready(self, process: subprocess.Popen, state: BrokerState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerError(
                    f"the broker exited with code {process.returncode} while starting: "
                    f"see {self.log_path}"
                )
            if admin_reachable(state.bootstrap_servers):
                return
            time.sleep(0.5)
        raise BrokerError(
            f"the broker did not become ready in {timeout:.0f} s: see {self.log_path}"
        )


def admin_reachable(bootstrap_servers: str, timeout_ms: int = 3000) -> bool:
    """True when an admin client can connect and list topics."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap_servers.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass
    except OSError:
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc: trust kill(0)
    return fields[0] != "Z"


def _terminate(pid: int, grace: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap(pid)


def _reap(pid: int) -> None:
    # A broker we launched ourselves is our child: collect it so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
