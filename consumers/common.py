"""What the long-running consumers share: which topics they read, and when they stop."""

from __future__ import annotations

import re
import time

from stream.exceptions import ConfigError

__all__ = ["METADATA_MAX_AGE_MS", "POLL_S", "Stop", "check_start", "topic_pattern"]

# How long one poll waits for messages: short enough that a stop is noticed at once.
POLL_S = 0.2
# Pattern subscriptions see new topics only when metadata refreshes (5 min by default).
METADATA_MAX_AGE_MS = 3000


def check_start(start: str) -> None:
    """``--from``: where a consumer without committed offsets starts."""
    if start not in ("earliest", "latest"):
        raise ConfigError(f"--from must be earliest or latest, got {start!r}")


def topic_pattern(text: str) -> re.Pattern[str]:
    """The whole-name regular expression of ``--topics``.

    >>> bool(topic_pattern("records.*").match("records.sensors"))
    True
    >>> bool(topic_pattern("records.a,records.b").match("records.a.old"))
    False
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("--topics needs a topic name or regular expression, e.g. 'records.*'")
    try:
        return re.compile("^(?:" + "|".join(f"(?:{p})" for p in parts) + ")$")
    except re.error as exc:
        raise ConfigError(f"--topics {text!r} is not a valid regular expression: {exc}") from None


class Stop:
    """The stop conditions of one run; ``reason`` says which one fired."""

    def __init__(self, duration_s: float | None, count: int | None, idle_s: float | None):
        for name, value in (("--duration", duration_s), ("--count", count), ("--idle", idle_s)):
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        self.count = count
        now = time.monotonic()
        self.deadline = now + duration_s if duration_s is not None else None
        self.idle_s = idle_s
        self.last_message = now
        self.reason = ""

    def room(self, written: int) -> int | None:
        """How many more messages may be written (``None``: no limit)."""
        return None if self.count is None else self.count - written

    def reached(self, written: int) -> bool:
        now = time.monotonic()
        if self.count is not None and written >= self.count:
            self.reason = f"--count {self.count} reached"
        elif self.deadline is not None and now >= self.deadline:
            self.reason = "--duration elapsed"
        elif self.idle_s is not None and now - self.last_message >= self.idle_s:
            self.reason = f"idle for {self.idle_s:g} s"
        return bool(self.reason)

    def poll_timeout_s(self) -> float:
        if self.deadline is None:
            return POLL_S
        return max(0.0, min(POLL_S, self.deadline - time.monotonic()))
