"""The Postman collection, run by newman against a real server process.

CI installs newman first: `npm ci --prefix postman`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server

POSTMAN = Path(__file__).resolve().parents[2] / "postman"
COLLECTION = POSTMAN / "musicez.postman_collection.json"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"
EXPECTED_REQUESTS = {"Register", "Login", "Me", "Refresh", "Sessions", "Logout", "Forgot password"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (newman needs Node.js)"),
    pytest.mark.skipif(not NEWMAN.exists(), reason="newman is not installed: run `npm ci --prefix postman`"),
]


def test_the_collection_covers_the_day_one_flow() -> None:
    collection = json.loads(COLLECTION.read_text())
    names = [item["name"] for item in collection["item"]]
    assert set(names) >= EXPECTED_REQUESTS
    order = [names.index(n) for n in ("Register", "Login", "Me", "Refresh", "Sessions", "Logout", "Forgot password")]
    assert order == sorted(order)
    for item in collection["item"]:
        tests = [e for e in item.get("event", []) if e["listen"] == "test"]
        assert tests, f"{item['name']} has no test script"
        assert any("pm.test(" in line for line in tests[0]["script"]["exec"]), item["name"]


def test_newman_runs_the_collection_green(server: Server, tmp_path: Path) -> None:
    report = tmp_path / "newman.json"
    runs = []
    for _ in range(2):  # twice against one server: a unique email per run keeps it repeatable
        done = subprocess.run(
            [
                str(NEWMAN),
                "run",
                str(COLLECTION),
                "--env-var",
                f"baseUrl={server.url}",
                "--reporters",
                "cli,json",
                "--reporter-json-export",
                str(report),
                "--timeout-request",
                "10000",
                "--color",
                "off",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        runs.append(json.loads(report.read_text())["run"])
    for run in runs:
        stats = run["stats"]
        assert run["failures"] == []
        assert stats["assertions"]["failed"] == 0
        assert stats["requests"]["failed"] == 0
        assert stats["assertions"]["total"] >= 30
        assert stats["requests"]["total"] == len(json.loads(COLLECTION.read_text())["item"])
