"""Online clusterers (river-compatible) and the hierarchical merging they share."""

from __future__ import annotations

from models.cluster.merging import Merging, hierarchical_merge, stable_cluster_ids
from models.cluster.sgm import SelfGrowthMap

__all__ = ["Merging", "SelfGrowthMap", "hierarchical_merge", "stable_cluster_ids"]
