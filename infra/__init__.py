"""Adapters shared by the web and worker processes: settings, the MongoDB
event store and read-model collections, command statuses and messages on
Redis, and the embedded servers for local runs and tests."""
