"""The ``expert-draw`` command: the server, admin and client commands, offline verification."""
