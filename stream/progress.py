"""The one-line status of long commands (record, replay, evaluate) on stderr."""

from __future__ import annotations

import time
from typing import IO

__all__ = ["ProgressLine", "counted", "human_bytes"]


class ProgressLine:
    """The status line of ``record`` and ``replay`` on stderr.

    On a terminal it is redrawn in place every ``0.25 s``; elsewhere (a log file, CI) it is
    printed as a new line every ``5 s`` so that logs stay readable. :meth:`finish` always prints.
    """

    def __init__(self, stream: IO[str] | None, interval_s: float | None = None):
        self.stream = stream
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.25 if self._tty else 5.0)
        self._last = time.monotonic()
        self._width = 0

    def due(self) -> bool:
        return self.stream is not None and time.monotonic() - self._last >= self.interval_s

    def update(self, text: str) -> None:
        if self.stream is None:
            return
        self._last = time.monotonic()
        if self._tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, text: str) -> None:
        if self.stream is None:
            return
        if self._tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()


def human_bytes(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def counted(n: int, noun: str) -> str:
    """``1 drift event``, ``2 drift events``."""
    return f"{n} {noun}{'s' * (n != 1)}"
