"""Push-invalidated caches of what the guard reads, made strict by a fence (issue 12)."""
