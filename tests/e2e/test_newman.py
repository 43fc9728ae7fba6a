"""The Postman collection and its environment, run by newman against a real server process.

CI installs newman first: `npm ci --prefix postman`. The collection runs as a person would
click through it: the whole collection (with the documented `npm test` command), then, with
the tokens from the mails that run sent, its "From the mailbox" folder in a second run.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import MUSICEZ, Server

POSTMAN = Path(__file__).resolve().parents[2] / "postman"
COLLECTION = POSTMAN / "musicez.postman_collection.json"
ENVIRONMENT = POSTMAN / "musicez.postman_environment.json"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"
NPM = shutil.which("npm")
DAY_ONE = ("Register", "Login", "Me", "Refresh", "Sessions", "Logout", "Forgot password")
MAILBOX = "From the mailbox"
NEW_DEVICE = "Postman (new device)"  # the login whose "New sign-in" mail carries the not-me link
KEYS = {"apiKey", "adminKey"}
SETTINGS = {"baseUrl", *KEYS, "resetToken", "securityToken"}  # what a user sets: the environment file
# Every route of API.md, /metrics included, but /schema, as the collection spells it (path variables as {id}).
ROUTES = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/logout-all"),
    ("POST", "/auth/logout-others"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/{id}"),
    ("GET", "/auth/me"),
    ("POST", "/auth/password/forgot"),
    ("POST", "/auth/password/reset"),
    ("POST", "/auth/password/change"),
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/auth/activity"),
    ("POST", "/auth/not-me"),
    ("GET", "/auth/verify"),
    ("POST", "/auth/introspect"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/disable"),
    ("POST", "/admin/users/{id}/enable"),
    ("POST", "/admin/users/{id}/logout"),
    ("GET", "/metrics"),
}


def needs_newman(test: Any) -> Any:
    for mark in (
        pytest.mark.slow,
        pytest.mark.skipif(shutil.which("node") is None or NPM is None, reason="node and npm are not installed"),
        pytest.mark.skipif(not NEWMAN.exists(), reason="newman is not installed: run `npm ci --prefix postman`"),
    ):
        test = mark(test)
    return test


Item = dict[str, Any]


def load(path: Path) -> Item:
    loaded: Item = json.loads(path.read_text())
    return loaded


def requests_of(collection: Item) -> list[tuple[Item | None, Item]]:
    """Every request with its folder (None at the top), in order."""
    found: list[tuple[Item | None, Item]] = []
    for entry in collection["item"]:
        found += [(entry, item) for item in entry["item"]] if "item" in entry else [(None, entry)]
    return found


def lines(entry: Item, listen: str) -> list[str]:
    return [line for event in entry.get("event", []) if event["listen"] == listen for line in event["script"]["exec"]]


def needed_settings(folder: Item | None, item: Item) -> set[str]:
    """The variables without which the request skips itself (pm.execution.skipRequest)."""
    scripts = lines(item, "prerequest") + (lines(folder, "prerequest") if folder else [])
    return {
        name for line in scripts if "skipRequest" in line for name in re.findall(r'variables\.get\("(\w+)"\)', line)
    }


def runs_with(collection: Item, given: set[str]) -> list[str]:
    """The names of the requests that a run with these settings executes, in order."""
    return [item["name"] for folder, item in requests_of(collection) if needed_settings(folder, item) <= given]


def test_the_collection_covers_the_day_one_flow() -> None:
    collection = load(COLLECTION)
    names = [entry["name"] for entry in collection["item"]]
    assert {"Admin", "API keys", "Health and keys", "Devices", "Password change", MAILBOX} <= set(names)
    assert set(names) >= set(DAY_ONE)
    order = [names.index(n) for n in DAY_ONE]
    assert order == sorted(order)
    requests = [item["name"] for _, item in requests_of(collection)]
    assert len(requests) == len(set(requests)), "request names are unique, so that reports name one request"
    for _, item in requests_of(collection):
        assert any("pm.test(" in line for line in lines(item, "test")), f"{item['name']} has no test script"
    # The password changes only after everything that needs the first one, and the reset and not-me
    # links are used in a run of their own, after the mails of the whole collection are out.
    assert names.index("Password change") > names.index("Admin")
    assert names[-1] == MAILBOX


def test_what_skips_without_a_key_or_the_tokens_of_the_mails() -> None:
    collection = load(COLLECTION)
    in_folder = {
        name: [item["name"] for folder, item in requests_of(collection) if folder and folder["name"] == name]
        for name in ("API keys", "Admin", MAILBOX)
    }
    everything = runs_with(collection, SETTINGS)
    assert everything == [item["name"] for _, item in requests_of(collection)]
    assert runs_with(collection, {"baseUrl", *KEYS}) == everything[: -len(in_folder[MAILBOX])]
    skipped = set(everything) - set(runs_with(collection, {"baseUrl"}))
    assert skipped == {*in_folder["API keys"], *in_folder["Admin"], "Introspect after logout", *in_folder[MAILBOX]}


def test_the_collection_covers_every_route_of_the_contract() -> None:
    covered = set()
    for _, item in requests_of(load(COLLECTION)):
        path = "/" + "/".join(item["request"]["url"]["path"])
        covered.add((item["request"]["method"], re.sub(r"\{\{[^}]+\}\}", "{id}", path)))
    assert covered >= ROUTES, sorted(ROUTES - covered)


def test_the_environment_file_holds_the_settings_and_nothing_the_scripts_set() -> None:
    collection, environment = load(COLLECTION), load(ENVIRONMENT)
    assert environment["_postman_variable_scope"] == "environment"
    values = {v["key"]: v for v in environment["values"]}
    assert set(values) == SETTINGS
    assert all(v["enabled"] for v in values.values())
    assert values["baseUrl"]["value"].startswith("http")
    assert all(values[name]["value"] == "" and values[name]["type"] == "secret" for name in SETTINGS - {"baseUrl"})
    # An environment variable wins over a collection variable of the same name: one that the
    # scripts keep up to date (tokens, ids, the email of the run) must not be in the environment.
    scripts = [line for _, item in requests_of(collection) for line in lines(item, "test") + lines(item, "prerequest")]
    chained = {
        name for line in scripts for name in re.findall(r'(?:collectionVariables|variables)\.set\("(\w+)"', line)
    }
    assert chained, "the scripts chain tokens and ids"
    assert not chained & SETTINGS
    # Every {{variable}} the requests use is defined (dynamic ones such as {{$randomUUID}} aside).
    defined = {v["key"] for v in collection["variable"]} | SETTINGS
    used = set(re.findall(r"\{\{([^$}][^}]*)\}\}", json.dumps(collection["item"])))
    assert used <= defined, sorted(used - defined)
    # The documented `npm test` runs the collection with this environment.
    script = load(POSTMAN / "package.json")["scripts"]["test"]
    assert script.split() == ["newman", "run", COLLECTION.name, "-e", ENVIRONMENT.name]


def api_key(database_url: str, secret_key: str, tmp_path: Path, name: str, scope: str) -> str:
    """A key made as an operator would, with the CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSICEZ_")}
    env.update(MUSICEZ_DATABASE_URL=database_url, MUSICEZ_SECRET_KEY=secret_key, MUSICEZ_DATA_DIR=str(tmp_path / "cli"))
    created = subprocess.run(
        [str(MUSICEZ), "api-keys", "create", "--name", name, "--scope", scope, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key: str = json.loads(created.stdout)["key"]
    return key


def newman(report: Path, env_vars: dict[str, str], *extra: str, documented: bool = False) -> Item:
    """One newman run, green or the test fails with its output. `documented`: the way postman/README.md
    says (`npm --prefix postman test -- …`, which brings the environment file), else newman itself."""
    options = [option for name, value in env_vars.items() for option in ("--env-var", f"{name}={value}")]
    options += ["--reporters", "cli,json", "--reporter-json-export", str(report), "--timeout-request", "10000"]
    options += ["--color", "off", *extra]
    if documented:
        assert NPM is not None
        command = [NPM, "--prefix", str(POSTMAN), "test", "--", *options]
    else:
        command = [str(NEWMAN), "run", str(COLLECTION), "-e", str(ENVIRONMENT), *options]
    env = {**os.environ, "NPM_CONFIG_UPDATE_NOTIFIER": "false", "NO_UPDATE_NOTIFIER": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    run: Item = load(report)["run"]
    assert run["failures"] == []
    assert run["stats"]["assertions"]["failed"] == 0
    assert run["stats"]["requests"]["failed"] == 0
    return run


def executed(run: Item) -> list[str]:
    return [execution["item"]["name"] for execution in run["executions"]]


def mails(outbox: Path) -> list[EmailMessage]:
    """Oldest first (the outbox names its files by time)."""
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def text(message: EmailMessage) -> str:
    body = message.get_body()
    assert body is not None
    content: str = body.get_content()
    return content


def link_token(message: EmailMessage) -> str:
    found = re.search(r"\?token=([A-Za-z0-9_\-]+)", text(message))
    assert found, text(message)
    return found.group(1)


def tokens_from_mail(outbox: Path, done: set[str], timeout: float = 15.0) -> tuple[str, str, str]:
    """The address of the run that just ended (the one reset mail to an address not seen yet), the
    token of its reset link and that of the "New sign-in" mail of its login from NEW_DEVICE."""
    deadline = time.monotonic() + timeout
    while True:
        found = mails(outbox)
        reset = [m for m in found if str(m["Subject"]).startswith("Reset your") and str(m["To"]) not in done]
        if reset:
            assert len(reset) == 1, [str(m["To"]) for m in reset]
            address = str(reset[0]["To"])
            sign_in = [
                m
                for m in found
                if str(m["To"]) == address
                and str(m["Subject"]).startswith("New sign-in")
                and f"Device: {NEW_DEVICE}\n" in text(m)
            ]
            if sign_in:
                return address, link_token(reset[0]), link_token(sign_in[-1])
        assert time.monotonic() < deadline, [(str(m["To"]), str(m["Subject"])) for m in found]
        time.sleep(0.1)


@needs_newman
def test_newman_runs_the_collection_and_then_the_links_of_its_mails(
    server: Server, tmp_path: Path, database_url: str, secret_key: str
) -> None:
    collection = load(COLLECTION)
    keys = {
        "apiKey": api_key(database_url, secret_key, tmp_path, "postman-service", "api"),
        "adminKey": api_key(database_url, secret_key, tmp_path, "postman-admin", "admin"),
    }
    whole = runs_with(collection, {"baseUrl", *KEYS})
    from_mailbox = runs_with(collection, SETTINGS)[len(whole) :]
    addresses: set[str] = set()
    for round_ in range(2):  # twice against one server: a unique email per run keeps it repeatable
        first = newman(tmp_path / f"whole-{round_}.json", {"baseUrl": server.url, **keys}, documented=True)
        assert executed(first) == whole  # everything but the folder that needs the mails
        assert first["stats"]["assertions"]["total"] >= 150
        address, reset_token, security_token = tokens_from_mail(server.outbox, addresses)
        addresses.add(address)
        second = newman(
            tmp_path / f"mailbox-{round_}.json",
            {"baseUrl": server.url, "email": address, "resetToken": reset_token, "securityToken": security_token},
            "--folder",
            MAILBOX,
        )
        assert executed(second) == from_mailbox
        assert second["stats"]["assertions"]["total"] >= 20

    # The documented command with no key at all: the folders that need one skip, the rest is green.
    keyless = newman(tmp_path / "keyless.json", {"baseUrl": server.url}, documented=True)
    assert executed(keyless) == runs_with(collection, {"baseUrl"})
