"""What an operator meets first, through the real `musicez` process (issue 17): a taken port,
bad settings, an unmigrated database, and the command line's own manners."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from musicez import __version__
from musicez.adapters.security.keys import generate_private_pem
from tests.support.databases import create_database, drop_database
from tests.support.processes import ServerProcess, clean_env, free_port, run_cli, write_signing_key
from tests.support.services import Services

pytestmark = pytest.mark.slow


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _refused(done: object, *needles: str) -> str:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    assert done.returncode == 2, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    assert len(stderr) < 2000, stderr  # one line a problem, not 20 KB of nested tracebacks
    for needle in needles:
        assert any(needle in line for line in _errors(stderr)), stderr
    return stderr


def test_a_second_server_on_a_taken_port_refuses_to_start(tmp_path: Path) -> None:
    env = clean_env(data_dir=tmp_path / "data")
    first = ServerProcess(env, tmp_path).start()
    try:
        done = run_cli(["serve", "--port", str(first.port)], env, cwd=tmp_path, timeout=30)
        _refused(done, "already in use", "--port")
        assert httpx.get(f"{first.url}/health/live").status_code == 200  # the first one is untouched
    finally:
        first.kill()


def test_a_server_restarts_at_once_on_the_port_it_just_left(tmp_path: Path) -> None:
    """Its closed connections linger in TIME_WAIT for up to a minute: that is no server on the port."""
    env = clean_env(data_dir=tmp_path / "data")
    first = ServerProcess(env, tmp_path).start()
    try:
        with httpx.Client(base_url=first.url, headers={"Connection": "close"}) as http:
            for _ in range(3):  # the server closes each connection first: its side is left in TIME_WAIT
                assert http.get("/health/live").status_code == 200
    finally:
        assert first.stop() == 0, first.log()[-3000:]
    # what the port check did, a bind without SO_REUSEADDR, is refused by the TIME_WAIT alone
    with socket.socket() as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", first.port))
    second = ServerProcess(env, tmp_path, port=first.port).start()
    try:
        assert httpx.get(f"{second.url}/health/live").status_code == 200
    finally:
        second.kill()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"secret_key": "too-short"}, "MUSICEZ_SECRET_KEY"),
        ({"jwt_signing_key_file": "/nonexistent/key.pem"}, "JWT signing key file"),
        ({"jwt_algorithm": "ES256", "jwt_signing_key": generate_private_pem("EdDSA")}, "MUSICEZ_JWT_"),
        ({"redis_url": "redis://:pass/word@127.0.0.1:6379/0"}, "MUSICEZ_REDIS_URL"),
        ({"smtp_url": "http://mail.example"}, "MUSICEZ_SMTP_URL"),
    ],
)
def test_invalid_settings_are_one_line_each_before_any_worker_starts(
    tmp_path: Path, settings: dict[str, str], variable: str
) -> None:
    done = run_cli(["serve", "--port", str(free_port())], clean_env(settings, data_dir=tmp_path), cwd=tmp_path)
    _refused(done, variable)
    assert "KeyError" not in done.stderr


def test_production_needs_its_own_reset_link_and_sender(tmp_path: Path) -> None:
    done = run_cli(["serve", "--port", "1"], clean_env(env="production"), cwd=tmp_path, timeout=30)
    _refused(done, "MUSICEZ_PASSWORD_RESET_URL", "MUSICEZ_MAIL_FROM")


def test_version_help_and_python_dash_m(tmp_path: Path) -> None:
    for args in (["--version"], ["-V"]):
        done = run_cli(args, clean_env(), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"musicez {__version__}"
    assert __version__ != "0.0.0+unknown"
    assert run_cli(["-h"], clean_env(), cwd=tmp_path).stdout.startswith("Usage: musicez")
    assert "upgrade" in run_cli(["db", "-h"], clean_env(), cwd=tmp_path).stdout
    import subprocess
    import sys

    as_module = subprocess.run(
        [sys.executable, "-m", "musicez", "--version"], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert as_module.stdout.strip() == f"musicez {__version__}", as_module.stderr


def test_command_line_mistakes_share_one_style_and_exit_code(tmp_path: Path) -> None:
    port = run_cli(["serve", "--port", "70000"], clean_env(), cwd=tmp_path)
    line = _refused(port, "--port")
    assert "MUSICEZ_PORT" not in line  # the flag was wrong, not the variable
    _refused(run_cli(["bogus"], clean_env(), cwd=tmp_path), "bogus")
    _refused(run_cli(["api-keys", "create"], clean_env(), cwd=tmp_path), "--name")
    _refused(run_cli(["api-keys", "revoke", "not-a-uuid"], clean_env(data_dir=tmp_path), cwd=tmp_path), "not-a-uuid")


def test_the_cli_says_which_development_database_it_uses(tmp_path: Path) -> None:
    done = run_cli(["api-keys", "list"], clean_env(data_dir=tmp_path / "elsewhere"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = (tmp_path / "elsewhere" / "musicez.db").resolve()
    assert f"using the development database {path} (new" in done.stderr
    again = run_cli(["users", "show", "nobody@example.com"], clean_env(data_dir=tmp_path / "elsewhere"), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.splitlines() == ["error: No user with this id or email"]  # API.md: one `error:` line


def test_revoking_a_revoked_key_says_so_and_records_nothing(process_env: dict[str, str]) -> None:
    created = json.loads(run_cli(["api-keys", "create", "--name", "twice", "--json"], process_env).stdout)
    first = run_cli(["api-keys", "revoke", created["id"]], process_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"revoked {created['id']}"
    second = run_cli(["api-keys", "revoke", created["id"]], process_env)
    assert second.returncode == 0, second.stderr
    assert "already revoked" in second.stdout
    assert "api_key_revoked" in first.stderr
    assert "api_key_revoked" not in second.stderr
    unknown = run_cli(["api-keys", "revoke", str(uuid.uuid4())], process_env)
    assert unknown.returncode == 1, unknown.stderr
    assert len(_errors(unknown.stderr)) == 1, unknown.stderr


def test_database_commands_need_only_the_database_in_production(
    process_env: dict[str, str], database_url: str, secret_key: str
) -> None:
    env = clean_env(env="production", database_url=database_url, secret_key=secret_key)
    done = run_cli(["api-keys", "list", "--json"], env)
    assert done.returncode == 0, done.stderr  # no Redis, SMTP or signing key demanded
    assert run_cli(["db", "current"], env).returncode == 0


async def test_db_upgrade_current_and_history_tell_the_truth(services: Services, tmp_path: Path) -> None:
    url = await create_database(services.database_url, "musicez_cli")
    try:
        env = clean_env(database_url=url, data_dir=tmp_path)
        head = run_cli(["db", "history"], env).stdout.strip().splitlines()[-1].split()[0]
        assert "none (empty database)" in run_cli(["db", "current"], env).stdout
        applied = run_cli(["db", "upgrade"], env)
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.strip() == f"upgraded the database from an empty schema to revision {head}"
        again = run_cli(["db", "upgrade"], env)
        assert again.stdout.strip() == f"database is up to date (revision {head})"
        assert run_cli(["db", "current"], env).stdout.strip() == f"{head} (head: up to date)"
    finally:
        await drop_database(services.database_url, url)


async def test_an_unmigrated_database_is_one_outage_until_db_upgrade_in_production(
    services: Services, redis_url: str, secret_key: str, tmp_path: Path
) -> None:
    """Production on an empty database: not ready, and every request that needs the database a
    503 saying what to run, logged once (not once per probe or request) and exported as the
    database down; `musicez db upgrade` while it serves ends it, logged once, with no restart."""
    url = await create_database(services.database_url, "musicez_unmigrated")
    try:
        env = clean_env(
            env="production",
            database_url=url,
            redis_url=redis_url,
            redis_prefix=f"mez-test-unmigrated-{uuid.uuid4().hex[:8]}",
            secret_key=secret_key,
            jwt_signing_key_file=write_signing_key(tmp_path / "keys"),
            mail_outbox=tmp_path / "outbox",
            password_reset_url="https://app.example.com/reset",
            mail_from="MusicEZ <no-reply@example.com>",
            metrics_token=METRICS_TOKEN,
            data_dir=tmp_path / "data",
        )
        server = ServerProcess(env, tmp_path).start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                for _ in range(5):  # each probe/request pair flipped the state, a log line each
                    ready = http.get("/health/ready")
                    assert ready.status_code == 503
                    assert ready.json() == {"status": "unavailable"}
                    response = http.post(
                        "/auth/register", json={"email": "ops@example.com", "password": "Correct-Horse-Battery-9"}
                    )
                    assert response.status_code == 503, response.text
                    problem = response.json()
                    assert problem["code"] == "service_unavailable"
                    assert "musicez db upgrade" in problem["detail"]
                    assert len(response.content) < 1000
                    assert _database_up(http) == 0
                events = _events(server.log())
                assert sum("database unavailable (" in e and "musicez db upgrade" in e for e in events) == 1, events
                assert sum("database unavailable (" in e for e in events) == 1, events
                assert not [
                    e for e in events if "is back: serving again" in e or e.startswith(("Context impl", "Will assume"))
                ]

                upgraded = run_cli(["db", "upgrade"], env)
                assert upgraded.returncode == 0, upgraded.stderr
                assert http.get("/health/ready").status_code == 200
                assert _database_up(http) == 1
                registered = http.post(
                    "/auth/register", json={"email": "ops@example.com", "password": "Correct-Horse-Battery-9"}
                )
                assert registered.status_code == 201, registered.text
            events = _events(server.log())
            assert sum("database unavailable (" in e for e in events) == 1, events
            assert sum(e == "database is back: serving again" for e in events) == 1, events
            log = server.log()
            assert "Traceback" not in log
            assert "IntegrityError" not in log
        finally:
            server.kill()
    finally:
        await drop_database(services.database_url, url)


METRICS_TOKEN = "scrape-token-for-the-unmigrated-server-0123"


def _events(log: str) -> list[str]:
    """The server's JSON log lines' events (production logs JSON lines)."""
    return [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]


def _database_up(http: httpx.Client) -> float:
    scraped = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200, scraped.text
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            if sample.name == "musicez_dependency_up" and sample.labels == {"dependency": "database"}:
                return sample.value
    raise AssertionError(scraped.text)
