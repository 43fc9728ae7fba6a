"""The dashboards and alerts in deploy/ name only metrics the service really exports, and the
alerting rules load in Prometheus's own checker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.api import MakeSettings, register

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "musicez-auth.json"
SCRAPE_TOKEN = "scrape-token-for-the-monitoring-test-0123"
_METRIC = re.compile(r"\bmusicez_[a-z_]+\b")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def named_metrics() -> set[str]:
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    return set(_METRIC.findall(RULES.read_text())) | {m for e in exprs for m in _METRIC.findall(e)}


def test_the_alerting_rules_load_in_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed: apt-get install -y prometheus")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


async def test_every_metric_a_panel_or_rule_names_is_exported(make_settings: MakeSettings) -> None:
    from litestar.testing import AsyncTestClient

    from musicez.entrypoints.http.app import create_app

    app = create_app(settings=make_settings(metrics_token=SCRAPE_TOKEN))
    async with AsyncTestClient(app) as client:
        email = unique_email("monitoring")
        tokens = await register(client, email)
        await client.post("/auth/login", json={"email": email, "password": "wrong-" + STRONG_PASSWORD})
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert scraped.status_code == 200, scraped.text
    exported: set[str] = set()
    for family in text_string_to_metric_families(scraped.text):
        exported.add(family.name)
        for sample in family.samples:
            exported.add(sample.name)
    names = named_metrics()
    assert names, "the deploy files name no metric?"
    missing = {n for n in names if n not in exported and not any(n.removesuffix(s) in exported for s in _SUFFIXES)}
    assert not missing, f"named in deploy/ but not exported: {sorted(missing)}"
