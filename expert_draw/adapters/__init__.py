"""Adapters: gRPC, database, files and keys; the only layer that does I/O."""
