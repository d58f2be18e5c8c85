"""Typed, frozen settings for every process, built once at the edge (the CLI).

Precedence, highest first: command-line flags, environment variables (``SGM_...``), the config
file (``--config FILE`` or ``SGM_CONFIG``; YAML or JSON, one section per settings group, e.g.
``kafka:``), then the defaults here. Library code receives these objects and never reads the
environment itself. Secrets are :class:`~pydantic.SecretStr` and are never printed.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream.exceptions import ConfigError

__all__ = ["BrokerSettings", "KafkaSettings", "TopicSettings", "load_config_file", "load_settings"]

_FILE_VALUES: ContextVar[dict | None] = ContextVar("sgm_config_file_values", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """Values from the config file section of the settings group being built."""

    def _section(self) -> dict:
        sections = _FILE_VALUES.get() or {}
        return sections.get(self.settings_cls.model_config.get("title") or "", {})

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._section().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {name: value for name, value in self._section().items() if name in fields}


class _Settings(BaseSettings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _FileSource(settings_cls))


class KafkaSettings(_Settings):
    """How to reach the Kafka cluster (``SGM_KAFKA_*``; config file section ``kafka``)."""

    model_config = SettingsConfigDict(env_prefix="SGM_KAFKA_", frozen=True, title="kafka")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "sgmstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    request_timeout_ms: int = 30_000

    def client_config(self) -> dict[str, Any]:
        """Keyword arguments shared by kafka-python's producer, consumer and admin client."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.sasl_mechanism:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                config["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return config


class BrokerSettings(_Settings):
    """The local development broker (``SGM_BROKER_*``; config file section ``broker``)."""

    model_config = SettingsConfigDict(env_prefix="SGM_BROKER_", frozen=True, title="broker")

    port: int = 9092
    data_dir: Path | None = None
    libs_dir: Path | None = None
    heap: str = "512m"
    start_timeout_s: float = 90.0


class TopicSettings(_Settings):
    """Topic names and sizes of the pipeline (``SGM_TOPICS_*``; config file section ``topics``)."""

    model_config = SettingsConfigDict(env_prefix="SGM_TOPICS_", frozen=True, title="topics")

    sources: tuple[str, ...] = ()
    partitions: int = 4
    records_prefix: str = "records."
    assignments: str = "sgm.assignments"
    updates: str = "sgm.updates"
    deadletter: str = "sgm.deadletter"
    global_model: str = "sgm.global"


def load_config_file(path: Path | None) -> dict:
    """Read a YAML or JSON config file into sections; one clear :class:`ConfigError` if bad."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"config file {path} is not valid YAML/JSON: {first}") from exc
    data = data or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(
            f"config file {path} must map section names (kafka, broker, topics, ...) to settings"
        )
    return data


def load_settings(cls: type[_Settings], flags: dict[str, Any], config: dict | None = None):
    """Build ``cls`` from flags (``None`` = not given), environment and config-file sections."""
    given = {name: value for name, value in flags.items() if value is not None}
    section = cls.model_config.get("title")
    unknown = sorted(set((config or {}).get(section, {})) - set(cls.model_fields))
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]!r} under '{section}:' in the config file; "
            f"known: {', '.join(cls.model_fields)}"
        )
    token = _FILE_VALUES.set(config or {})
    try:
        return cls(**given)
    except ValidationError as exc:
        raise ConfigError(_one_line(cls, exc)) from None
    finally:
        _FILE_VALUES.reset(token)


def _one_line(cls: type[_Settings], exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "?"
    prefix = cls.model_config.get("env_prefix", "")
    section = cls.model_config.get("title")
    return (
        f"setting {field!r} is invalid ({error['msg']}); fix --{field.replace('_', '-')}, "
        f"{prefix}{field.upper()} or '{field}' under '{section}:' in the config file"
    )
