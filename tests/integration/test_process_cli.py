"""`musicez api-keys …` exactly as API.md describes it, run as a real process."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port, run_cli

pytestmark = pytest.mark.slow

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LIST_FIELDS = {"id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at"}


def _ok(env: dict[str, str], *args: str) -> str:
    done = run_cli(list(args), env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _listed(env: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(_ok(env, "api-keys", "list", "--json"))
    return rows


def test_create_json_prints_the_key_once(process_env: dict[str, str]) -> None:
    before = datetime.now(UTC)
    out = _ok(
        process_env,
        *("api-keys", "create", "--name", "recs", "--rate-limit", "5/minute", "--expires-in", "90d", "--json"),
    )
    created = json.loads(out)  # exactly one JSON object on stdout, nothing else
    assert set(created) == {"id", "name", "key", "expires_at"}
    assert str(uuid.UUID(created["id"])) == created["id"]
    assert created["name"] == "recs"
    assert created["key"].startswith("mez_")
    assert len(created["key"]) >= len("mez_") + 32  # ≥ 128 bits of randomness, plus the embedded id
    assert out.count(created["key"]) == 1
    assert RFC3339_UTC.match(created["expires_at"]), created["expires_at"]
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert before + timedelta(days=90, seconds=-5) <= expires <= datetime.now(UTC) + timedelta(days=90, seconds=5)


def test_list_never_shows_a_key_and_revoke_marks_it(process_env: dict[str, str]) -> None:
    out = _ok(process_env, "api-keys", "create", "--name", "listed", "--rate-limit", "10/hour")
    printed = re.findall(r"mez_[A-Za-z0-9_\-]+", out)
    assert len(printed) == 1, out  # printed once
    secret = printed[0]
    listed = run_cli(["api-keys", "list", "--json"], process_env)
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout + listed.stderr
    assert secret[len("mez_") + 32 :] not in listed.stdout  # not even the secret part
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "listed")
    assert row["id"] in out
    assert set(row) >= LIST_FIELDS
    assert not {"key", "secret", "secret_hash", "hash"} & set(row)
    assert row["prefix"].startswith("mez_")
    assert secret.startswith(row["prefix"])
    assert len(row["prefix"]) < len(secret) // 2
    assert RFC3339_UTC.match(row["created_at"])
    assert row["last_used_at"] is None
    assert row["expires_at"] is None
    assert row["revoked_at"] is None

    revoked = _ok(process_env, "api-keys", "revoke", row["id"])
    assert row["id"] in revoked

    table = run_cli(["api-keys", "list"], process_env)
    assert table.returncode == 0, table.stderr
    assert secret not in table.stdout
    header, *lines = table.stdout.splitlines()
    for column in ("id", "name", "prefix", "created", "last_used", "expires", "revoked"):
        assert column in header.lower().replace(" ", "_"), header
    line = next(line for line in lines if row["id"] in line)
    assert row["prefix"] in line
    assert len(re.findall(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", line)) == 2  # created and revoked


BAD_INPUTS = {
    "rate limit unknown period": ["api-keys", "create", "--name", "x", "--rate-limit", "5/minut"],
    "expires-in unknown unit": ["api-keys", "create", "--name", "x", "--expires-in", "10x"],
    "revoke unknown id": ["api-keys", "revoke", str(uuid.uuid4())],
    "revoke not a uuid": ["api-keys", "revoke", "not-a-uuid"],
}


def test_bad_input_fails_with_one_line_and_no_traceback(process_env: dict[str, str]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = pool.map(lambda args: run_cli(args, process_env), BAD_INPUTS.values())
        results = dict(zip(BAD_INPUTS, outcomes, strict=True))
    problems = []
    for case, done in results.items():
        lines = done.stderr.strip().splitlines()
        if done.returncode == 0:
            problems.append(f"{case}: exit code 0")
        if "Traceback" in done.stderr or len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"{case}: stderr is not one error line: {done.stderr!r}")
        if done.stdout.strip():
            problems.append(f"{case}: printed to stdout: {done.stdout!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("auto_migrate", ["true", "false"])
def test_cli_without_a_reachable_database_fails_with_one_line(process_env: dict[str, str], auto_migrate: str) -> None:
    """Without migrations at start-up (production) the first use of the database meets the outage,
    whose server-side log line ("… answering 503 until it is back") the CLI does not print."""
    env = {
        **process_env,
        "MUSICEZ_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere",
        "MUSICEZ_AUTO_MIGRATE": auto_migrate,
    }
    done = run_cli(["api-keys", "list"], env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "database" in lines[0]


def test_debug_level_does_not_log_the_stored_hash(process_env: dict[str, str], tmp_path: Path) -> None:
    """MUSICEZ_LOG_LEVEL=DEBUG is for the service's own loggers: aiosqlite's debug lines would print
    the INSERT with the key's stored hash as a parameter."""
    env = {k: v for k, v in process_env.items() if k != "MUSICEZ_DATABASE_URL"}
    env |= {"MUSICEZ_DATA_DIR": str(tmp_path), "MUSICEZ_LOG_LEVEL": "DEBUG"}
    done = run_cli(["api-keys", "create", "--name", "debug", "--json"], env)
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)["key"]
    with closing(sqlite3.connect(tmp_path / "musicez.db")) as connection:
        (stored,) = connection.execute("SELECT secret_hash FROM api_keys").fetchone()
    assert stored not in done.stderr
    assert key not in done.stderr
    assert "INSERT INTO api_keys" not in done.stderr


def test_revoke_with_redis_down_says_the_key_is_revoked_but_the_servers_were_not_told(
    process_env: dict[str, str],
) -> None:
    created = json.loads(_ok(process_env, "api-keys", "create", "--name", "channel-down", "--json"))
    down = {**process_env, "MUSICEZ_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    done = run_cli(["api-keys", "revoke", created["id"]], down)
    assert done.returncode == 1, done  # the servers' caches could not be told
    assert "Traceback" not in done.stderr
    assert "answering 503" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert f"API key {created['id']} is revoked in the database" in errors[0]
    assert "the running servers could not be told through the revocation channel (Redis" in errors[0]
    assert "Revoke it again once Redis is reachable" in errors[0]
    row = next(r for r in _listed(process_env) if r["id"] == created["id"])
    assert row["revoked_at"] is not None  # as the message says

    again = _ok(process_env, "api-keys", "revoke", created["id"])  # what the message says to do
    assert "already revoked; the running servers were told again" in again
