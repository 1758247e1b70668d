"""The aud1 audit log: canonical entries, RFC 9162 Merkle tree, signed checkpoints.

A pure library (stdlib + cryptography) shared by the service and the offline verifier;
only ``audit_log.sqlstore`` touches a database. Built under the audit-log issue.
"""
