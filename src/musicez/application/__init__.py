"""Use cases, one class each, and the ports they need. No framework or driver imports."""
