"""Ordered SQL migrations, applied by `brain migrate` (see `brain.migrate`)."""
