"""The dishka providers of the composition root (`musicez.entrypoints.container`)."""
