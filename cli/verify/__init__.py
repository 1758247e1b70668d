"""Offline commands: verification and checks that import no gRPC and no database code.

Exit codes: 0 clean, 1 findings, 3 warnings or policy findings, 4 usage or unreadable input.
"""
