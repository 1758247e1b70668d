"""The pure core: no clock, no randomness, no I/O; only stdlib and the shared libraries."""
