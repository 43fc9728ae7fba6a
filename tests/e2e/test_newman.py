"""The Postman collection, run by newman against a real server process.

CI installs newman first: `npm ci --prefix postman`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.server import MUSICEZ, Server

POSTMAN = Path(__file__).resolve().parents[2] / "postman"
COLLECTION = POSTMAN / "musicez.postman_collection.json"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"
EXPECTED_REQUESTS = {"Register", "Login", "Me", "Refresh", "Sessions", "Logout", "Forgot password"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (newman needs Node.js)"),
    pytest.mark.skipif(not NEWMAN.exists(), reason="newman is not installed: run `npm ci --prefix postman`"),
]


def requests_of(collection: dict) -> list[dict]:  # type: ignore[type-arg]
    """Every request, folders (such as "Admin") flattened in order."""
    found = []
    for item in collection["item"]:
        found += item.get("item", [item])
    return found


def test_the_collection_covers_the_day_one_flow() -> None:
    collection = json.loads(COLLECTION.read_text())
    names = [item["name"] for item in collection["item"]]
    assert "Admin" in names  # a folder of support-console calls with an admin-scope API key
    assert set(names) >= EXPECTED_REQUESTS
    order = [names.index(n) for n in ("Register", "Login", "Me", "Refresh", "Sessions", "Logout", "Forgot password")]
    assert order == sorted(order)
    for item in requests_of(collection):
        tests = [e for e in item.get("event", []) if e["listen"] == "test"]
        assert tests, f"{item['name']} has no test script"
        assert any("pm.test(" in line for line in tests[0]["script"]["exec"]), item["name"]


def admin_key(database_url: str, secret_key: str, tmp_path: Path) -> str:
    """An admin-scope key for the collection's Admin folder, made as an operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEZ_")}
    env.update(MUSICEZ_DATABASE_URL=database_url, MUSICEZ_SECRET_KEY=secret_key, MUSICEZ_DATA_DIR=str(tmp_path / "cli"))
    created = subprocess.run(
        [str(MUSICEZ), "api-keys", "create", "--name", "postman-admin", "--scope", "admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key: str = json.loads(created.stdout)["key"]
    return key


def test_newman_runs_the_collection_green(server: Server, tmp_path: Path, database_url: str, secret_key: str) -> None:
    report = tmp_path / "newman.json"
    key = admin_key(database_url, secret_key, tmp_path)
    runs = []
    for _ in range(2):  # twice against one server: a unique email per run keeps it repeatable
        done = subprocess.run(
            [
                str(NEWMAN),
                "run",
                str(COLLECTION),
                "--env-var",
                f"baseUrl={server.url}",
                "--env-var",
                f"adminKey={key}",
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
        assert stats["requests"]["total"] == len(requests_of(json.loads(COLLECTION.read_text())))
