# MusicEZ Auth — common tasks. Run `uv run just --list` (just is a dev dependency).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Run the service on the embedded defaults (SQLite + in-process store), or on MUSICEZ_* settings
serve *ARGS:
    uv run musicez serve {{ARGS}}

# The whole test suite (needs Postgres and Redis: see README, "Tests")
test *ARGS:
    uv run pytest {{ARGS}}

# Fast tests only: domain and use cases with in-memory fakes
test-unit:
    uv run pytest tests/unit -q

# Lint and format check, the layer contracts, and declared-vs-imported dependencies
lint:
    uv run ruff check src tests bench
    uv run ruff format --check src tests bench
    uv run lint-imports
    uv run deptry src

# Format the code
fmt:
    uv run ruff format src tests bench
    uv run ruff check --fix src tests bench

# Static types (strict, over src and tests)
typecheck:
    uv run mypy

# Apply database migrations to MUSICEZ_DATABASE_URL
db-upgrade:
    uv run musicez db upgrade

# The benchmark (Postgres + Redis + wrk); `just bench --smoke` for a few-seconds run
bench *ARGS:
    uv run python bench/run.py {{ARGS}}

# Everything CI runs
ci:
    bash .ci/run
