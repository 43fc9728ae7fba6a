"""A real nginx with `auth_request` in front of a tiny upstream, asking a real `musicez serve`
through `GET /auth/verify` (the configuration of docs/RESOURCE_SERVERS.md)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.accounts import STRONG_PASSWORD, unique_email
from tests.support.processes import free_port, port_open, run_cli, running_server

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)

# The snippet of docs/RESOURCE_SERVERS.md, with test ports and paths.
NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream musicez_auth {{ server 127.0.0.1:{auth_port}; }}

    server {{
        listen 127.0.0.1:{port};

        location = /_musicez_verify {{
            internal;
            proxy_pass http://musicez_auth/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}

        location / {{
            auth_request /_musicez_verify;
            auth_request_set $auth_kind $upstream_http_x_auth_kind;
            auth_request_set $auth_user $upstream_http_x_auth_user_id;
            auth_request_set $auth_session $upstream_http_x_auth_session_id;
            auth_request_set $auth_key $upstream_http_x_auth_api_key_id;
            auth_request_set $auth_scope $upstream_http_x_auth_scope;
            error_page 401 = @musicez_401;

            proxy_set_header X-Auth-Kind $auth_kind;
            proxy_set_header X-Auth-User-Id $auth_user;
            proxy_set_header X-Auth-Session-Id $auth_session;
            proxy_set_header X-Auth-Api-Key-Id $auth_key;
            proxy_set_header X-Auth-Scope $auth_scope;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}

        location @musicez_401 {{
            default_type application/problem+json;
            return 401 '{{"status":401,"title":"Authentication is required"}}';
        }}
    }}
}}
"""


class _Upstream(BaseHTTPRequestHandler):
    """Answers with the X-Auth-* headers it received, and counts its requests."""

    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        seen = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-auth-")}
        body = json.dumps({"path": self.path, "headers": seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@contextlib.contextmanager
def _upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _nginx(directory: Path, auth_port: int, upstream_port: int) -> Iterator[str]:
    assert NGINX is not None
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port, auth_port=auth_port, upstream_port=upstream_port))
    check = subprocess.run(
        [NGINX, "-t", "-p", str(directory), "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert process.poll() is None, (directory / "error.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="module")
def stack(process_env: dict[str, str], process_dir: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: nginx-light)")
    env = {**process_env, "MUSICEZ_TRUSTED_PROXIES": "127.0.0.1", "MUSICEZ_LOG_LEVEL": "INFO"}
    with (
        running_server(env, process_dir) as auth,
        _upstream() as upstream_port,
        _nginx(process_dir / "nginx", auth.port, upstream_port) as proxy_url,
        httpx.Client(base_url=auth.url, timeout=10) as direct,
        httpx.Client(base_url=proxy_url, timeout=10) as proxied,
    ):
        yield direct, proxied


def test_nginx_auth_request_in_front_of_an_upstream(
    stack: tuple[httpx.Client, httpx.Client], process_env: dict[str, str]
) -> None:
    direct, proxied = stack
    address = unique_email("nginx")
    tokens = direct.post("/auth/register", json={"email": address, "password": STRONG_PASSWORD}).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    reached = proxied.get("/recommendations?genre=jazz", headers=auth)
    assert reached.status_code == 200, reached.text
    assert reached.json() == {
        "path": "/recommendations?genre=jazz",
        "headers": {
            "x-auth-kind": "user",
            "x-auth-user-id": tokens["user"]["id"],
            "x-auth-session-id": tokens["session_id"],
        },
    }

    hits = len(_Upstream.hits)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = proxied.get("/recommendations", headers=headers)
        assert refused.status_code == 401, refused.text
        # One challenge: auth_request passes on the subrequest's own on a 401 (RFC 6750).
        challenges = refused.headers.get_list("www-authenticate")
        assert len(challenges) == 1, challenges
        assert challenges[0].startswith('Bearer realm="musicez"')

    assert direct.post("/auth/logout", headers=auth).status_code == 204
    logged_out = proxied.get("/recommendations", headers=auth)  # at once: no offline JWT check here
    assert logged_out.status_code == 401
    assert 'error="invalid_token"' in logged_out.headers["www-authenticate"]
    assert len(_Upstream.hits) == hits  # the upstream never saw a refused request

    done = run_cli(["api-keys", "create", "--name", "nginx-test", "--json"], process_env)
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)
    as_key = proxied.get("/catalog", headers={"X-API-Key": key["key"]})
    assert as_key.status_code == 200, as_key.text
    assert as_key.json()["headers"] == {"x-auth-kind": "api_key", "x-auth-api-key-id": key["id"], "x-auth-scope": "api"}
