"""Migration steps, oldest first (see :mod:`monitor.store.migrations`)."""
