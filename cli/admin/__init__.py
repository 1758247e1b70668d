"""Client commands: talk to a running service over mutual-TLS gRPC."""
