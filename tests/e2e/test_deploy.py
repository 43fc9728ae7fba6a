"""The deploy files hold together: the compose environment is a complete production
configuration (the real server starts on it, migrations run as their own step), and the
Dockerfile keeps its promises (non-root, health check, the serve command)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from musicez.entrypoints.settings import Settings
from tests.support.server import MUSICEZ, StartServer

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")

pytestmark = pytest.mark.slow


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def interpolate(value: object, given: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}, with `given` as the .env file."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in given:
            return given[name]
        text = match.group(0)
        if ":-" in text:
            return text.split(":-", 1)[1][:-1]
        raise AssertionError(f"compose.yaml needs {name}, which deploy/env.example does not name")

    return _VARIABLE.sub(one, str(value))


FILLED_IN = {
    "POSTGRES_PASSWORD": "example-postgres-password",
    "REDIS_PASSWORD": "example-redis-password",
    "MUSICEZ_SECRET_KEY": "example-secret-key-" + "x" * 48,
    "MUSICEZ_SMTP_URL": "smtp://mailer:secret@smtp.example.com:587?starttls=true",
    "MUSICEZ_METRICS_TOKEN": "example-metrics-token-0123456789",
    "MUSICEZ_TRUSTED_PROXIES": "10.0.0.0/8",
}


def example_env() -> dict[str, str]:
    """deploy/env.example as an operator fills it in."""
    values = {}
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = FILLED_IN.get(name, value)
    return values


def test_the_dockerfile_keeps_its_promises() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.MULTILINE)
    assert len(stages) >= 2  # multi-stage
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "uv sync --frozen --no-dev" in text
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user
    assert user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health/live", text, re.MULTILINE)
    assert 'CMD ["musicez", "serve", "--host", "0.0.0.0"]' in text
    ignored = (ROOT / ".dockerignore").read_text()
    assert "**" in ignored.splitlines()  # nothing but what the build names


def test_compose_services_and_order() -> None:
    services = compose()["services"]
    assert {"app", "migrate", "postgres", "redis"} <= services.keys()
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["migrate"]["command"] == ["musicez", "db", "upgrade"]
    assert services["app"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "--workers" in services["app"]["command"]
    app_env = services["app"]["environment"]
    assert app_env["MUSICEZ_ENV"] == "production"
    assert app_env["MUSICEZ_AUTO_MIGRATE"] == "false"  # migrations are the migrate service's job


def test_env_example_names_every_value_compose_reads_and_the_links_point_at_the_front_end() -> None:
    """README: deploy/env.example lists every value; the mails' links follow it, never localhost."""
    environment = compose()["x-musicez-environment"]
    read = {name for value in environment.values() for name in _VARIABLE.findall(str(value))}
    assert read - example_env().keys() == set()
    settings = Settings.from_env({k: interpolate(v, example_env()) for k, v in environment.items()})
    assert settings.mail.security_url == "https://app.musicez.example/not-me"
    assert settings.mail.reset_url == "https://app.musicez.example/reset-password"
    assert settings.public_url is None  # empty in the example: the request's scheme and Host
    without = {**example_env(), "MUSICEZ_SECURITY_URL": ""}  # left empty: the reset URL's origin
    derived = Settings.from_env({k: interpolate(v, without) for k, v in environment.items()})
    assert derived.mail.security_url == "https://app.musicez.example/not-me"


def test_the_compose_environment_is_a_complete_production_configuration(
    start_server: StartServer, database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    given = example_env()
    env = {k: interpolate(v, given) for k, v in compose()["services"]["app"]["environment"].items()}
    Settings.from_env(env)  # production refuses to start on development defaults: this must not raise

    # The same environment on this machine: local services, key files in a temp dir.
    signing = tmp_path / "jwt-signing-key.pem"
    signing.write_text(
        subprocess.run([str(MUSICEZ), "keys", "generate"], capture_output=True, text=True, check=True).stdout
    )
    retired = tmp_path / "jwt-verification-keys.pem"
    retired.write_text("")
    env.update(
        MUSICEZ_DATABASE_URL=database_url,
        MUSICEZ_REDIS_URL=redis_url,
        MUSICEZ_REDIS_PREFIX=f"{redis_prefix}:{uuid.uuid4().hex[:8]}",
        MUSICEZ_JWT_SIGNING_KEY_FILE=str(signing),
        MUSICEZ_JWT_VERIFICATION_KEYS_FILE=str(retired),
        MUSICEZ_SMTP_URL="smtp://127.0.0.1:2525",
        MUSICEZ_BCRYPT_ROUNDS="10",  # the lowest cost production accepts
        MUSICEZ_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    (tmp_path / "prometheus").mkdir()
    migrate = subprocess.run(
        [str(MUSICEZ), "db", "upgrade"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MUSICEZ_")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    server = start_server(**env)
    assert httpx.get(f"{server.url}/health/ready").json() == {"status": "ok"}
    failed = httpx.post(
        f"{server.url}/auth/login",
        json={"email": "nobody@example.com", "password": "Wrong-Password-12345"},
        headers={"X-Request-ID": "deploy-check-1"},
    )
    assert failed.status_code == 401
    metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {given['MUSICEZ_METRICS_TOKEN']}"})
    assert metrics.status_code == 200
    assert server.stop() == 0
    records = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    assert any(r.get("event") == "login_failed" and r.get("request_id") == "deploy-check-1" for r in records)
