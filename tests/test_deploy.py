"""The shipped Prometheus config, alert rules and Grafana dashboard: valid, and every query
names a metric a worker exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from stream.metrics import WorkerMetrics

REPO = Path(__file__).resolve().parents[1]
PROMTOOL = REPO / ".cache" / "prometheus" / "usr" / "bin" / "promtool"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported() -> set[str]:
    return {
        family.name + suffix
        for family in WorkerMetrics().registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def _queries() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((REPO / "deploy" / "grafana" / "sgmstream.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return exprs


def test_every_query_names_only_exported_metrics():
    exported = _exported()
    queries = _queries()
    assert len(queries) >= 10
    for expr in queries:
        named = set(re.findall(r"\b(sgm_[a-z_]+)\b", expr))
        assert named or "up{" in expr, expr
        assert named <= exported, (expr, named - exported)


@pytest.mark.parametrize("what, path", [("config", "prometheus.yml"), ("rules", "rules.yml")])
def test_promtool_accepts_the_shipped_files(what, path):
    assert PROMTOOL.exists(), f"{PROMTOOL} is missing: `make prometheus` unpacks it"
    checked = subprocess.run(
        [str(PROMTOOL), "check", what, str(PROMETHEUS_DIR / path)],
        capture_output=True,
        text=True,
        cwd=PROMETHEUS_DIR,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
