"""Dramatiq actors: command handlers on the ``commands`` queue and read-model
projectors on the ``projections`` queue."""
