"""The shop's business rules: commands, events, aggregates and read-model
projections.  Pure Python; nothing here does I/O."""
