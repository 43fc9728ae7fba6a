"""Several worker processes, one scrape: with PROMETHEUS_MULTIPROC_DIR set, any worker's
/metrics answers for all of them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import StartServer

SCRAPE_TOKEN = "e2e-scrape-token-0123456789abcdef"
REQUESTS = 40

pytestmark = pytest.mark.slow


def live_requests(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "musicez_http_requests_total"
                and sample.labels.get("route") == "/health/live"
                and sample.labels.get("status") == "200"
            ):
                total += sample.value
    return total


def test_a_scrape_counts_the_requests_of_every_worker(start_server: StartServer, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    server = start_server(
        MUSICEZ_WORKERS="2", MUSICEZ_METRICS_TOKEN=SCRAPE_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    before = live_requests(httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).text)
    for _ in range(REQUESTS):
        # a new connection each time, so the kernel spreads them over both workers
        assert httpx.get(f"{server.url}/health/live", headers={"Connection": "close"}).status_code == 200
    scrapes = [
        live_requests(httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).text)
        for _ in range(6)
    ]
    assert all(total - before >= REQUESTS for total in scrapes), (before, scrapes)
    assert len({p.name.rsplit("_", 1)[-1] for p in metrics_dir.glob("*.db")}) >= 2  # samples of both workers
    assert httpx.get(f"{server.url}/metrics").status_code == 401


def _scrape(server_url: str) -> float:
    return live_requests(httpx.get(f"{server_url}/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).text)


def test_several_workers_share_metrics_without_being_told_where(start_server: StartServer) -> None:
    """No PROMETHEUS_MULTIPROC_DIR: `serve` makes a private one, so counters never go backwards."""
    server = start_server(MUSICEZ_WORKERS="2", MUSICEZ_METRICS_TOKEN=SCRAPE_TOKEN)
    for _ in range(REQUESTS):
        assert httpx.get(f"{server.url}/health/live", headers={"Connection": "close"}).status_code == 200
    scrapes = []
    for _ in range(8):
        scrapes.append(_scrape(server.url))
        httpx.get(f"{server.url}/health/live", headers={"Connection": "close"})
    assert all(total >= REQUESTS for total in scrapes), scrapes
    assert scrapes == sorted(scrapes), scrapes  # monotonic whichever worker answers


def test_a_reused_metrics_directory_starts_from_zero(start_server: StartServer, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "reused"
    first = start_server(
        MUSICEZ_WORKERS="2", MUSICEZ_METRICS_TOKEN=SCRAPE_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    for _ in range(REQUESTS):
        httpx.get(f"{first.url}/health/live", headers={"Connection": "close"})
    assert _scrape(first.url) >= REQUESTS
    first.stop()
    second = start_server(
        MUSICEZ_WORKERS="2", MUSICEZ_METRICS_TOKEN=SCRAPE_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    assert _scrape(second.url) < REQUESTS  # the earlier run's counts were cleared at start
