"""Active drift detection for clustering maps: per cluster first, global second.

``DriftMonitor`` consumes a map's per-record output (cluster id, winner distance, novelty) and
raises typed ``DriftEvent`` s; ``ReadaptationTracker`` times how long the map takes to recover,
and ``react`` applies the map's drift reaction. The single-stream detectors it is built from are
usable on their own, with river's ``DriftDetector`` interface.
"""

from __future__ import annotations

from models.drift.adaptation import Readaptation, ReadaptationTracker, react
from models.drift.birth import NeuronBirth
from models.drift.events import EVENT_KINDS, DriftEvent
from models.drift.exceedance import ExceedanceCUSUM
from models.drift.hellinger import HellingerShift
from models.drift.mass import NoveltyMass
from models.drift.monitor import DriftMonitor
from models.drift.rate import RateCUSUM
from models.drift.share import ShareCUSUM

__all__ = [
    "EVENT_KINDS",
    "DriftEvent",
    "DriftMonitor",
    "ExceedanceCUSUM",
    "HellingerShift",
    "NeuronBirth",
    "NoveltyMass",
    "RateCUSUM",
    "Readaptation",
    "ReadaptationTracker",
    "ShareCUSUM",
    "react",
]
