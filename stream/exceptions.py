"""One exception root for the data plane; the CLI turns any of these into one clear line."""

from __future__ import annotations

__all__ = ["BrokerError", "ConfigError", "SchemaError", "SgmError", "WireFormatError"]


class SgmError(Exception):
    """Root of every error sgmstream raises on purpose (a message meant for the user)."""


class ConfigError(SgmError):
    """A flag, environment variable or config file is wrong; the message says how to fix it."""


class BrokerError(SgmError):
    """The Kafka broker cannot be started, reached or used."""


class WireFormatError(SgmError):
    """A document read from a topic or a file is malformed."""


class SchemaError(SgmError):
    """A source schema declaration is invalid."""
