"""Mixed-type online encoding: records of every source -> one numeric feature space (DESIGN §2).

One algorithm per module; :class:`MixedEncoder` (:mod:`.mixed`) composes them.
"""

from __future__ import annotations

from stream.encoding.mixed import MixedEncoder

__all__ = ["MixedEncoder"]
