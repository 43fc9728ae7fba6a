"""Entrypoints: HTTP and CLI, the settings and the composition root. Only here are
Litestar and dishka known."""
