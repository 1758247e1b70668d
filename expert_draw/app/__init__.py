"""Application services: use cases and transaction boundaries over the pure core."""
