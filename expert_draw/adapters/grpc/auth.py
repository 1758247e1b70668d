"""Caller identity from the mutual-TLS client certificate.

The TLS stack has already verified the chain against the trusted CAs (several at once,
细则 第27条). Here the certificate is attributed to the trusted CA that directly issued
it, then mapped to a configured principal and role (never to its subject text, which
may carry personal data). A trusted proxy, such as a TLCP gateway for SM2 clients,
forwards the fingerprint of the end client's certificate it verified (ADR-0016).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from expert_draw.errors import ConfigurationError, UnauthenticatedError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from expert_draw.config import Role, Settings

_HEX64 = re.compile(r"[0-9a-f]{64}")
_K = TypeVar("_K")
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: principal id, role, and the proxy it came through."""

    principal: str
    role: Role
    via: str | None = None


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """What the rules match on: issuing CA name, subject CN, SHA-256 fingerprint."""

    ca: str | None
    subject_cn: str | None
    fingerprint: str


class Authenticator:
    """Maps verified client certificates to identities, per the configured rules."""

    def __init__(self, settings: Settings) -> None:
        """Load the trusted CA certificates and index the rules.

        Raises:
            ConfigurationError: a CA file is unreadable or a rule is inconsistent.
        """
        self._cas = {
            ca.name: _load_ca(settings.path(ca.file), ca.name) for ca in settings.tls.client_cas
        }
        self._direct: dict[tuple[str, str, str], Identity] = {}
        self._proxied: dict[tuple[str, str], Identity] = {}
        self._proxies: dict[tuple[str, str, str], tuple[str, str]] = {}
        proxy_names = {proxy.name for proxy in settings.auth.trusted_proxies}
        for proxy in settings.auth.trusted_proxies:
            self._check_ca(proxy.ca, f"trusted proxy {proxy.name}")
            key = _key(proxy.ca, proxy.subject_cn, proxy.fingerprint_sha256)
            self._proxies[key] = (proxy.name, proxy.header)
        for rule in settings.auth.clients:
            identity_key = (rule.principal, rule.role)
            if rule.proxy is not None:
                if rule.proxy not in proxy_names:
                    msg = f"auth.clients: {rule.principal} names unknown proxy {rule.proxy}"
                    raise ConfigurationError(msg)
                proxied_key = (rule.proxy, rule.fingerprint_sha256 or "")
                _add(self._proxied, proxied_key, Identity(*identity_key, via=rule.proxy))
            else:
                self._check_ca(rule.ca or "", f"client rule {rule.principal}")
                key = _key(rule.ca or "", rule.subject_cn, rule.fingerprint_sha256)
                _add(self._direct, key, Identity(*identity_key))

    def _check_ca(self, name: str, what: str) -> None:
        if name not in self._cas:
            msg = f"auth: {what} names CA {name!r}, which is not in tls.client_cas"
            raise ConfigurationError(msg)

    def identify(self, peer_pem: bytes | None, metadata: Mapping[str, str]) -> Identity:
        """Return the caller's identity.

        Raises:
            UnauthenticatedError: no certificate, or none of the rules maps it.
        """
        if not peer_pem:
            msg = "no client certificate"
            raise UnauthenticatedError(msg)
        peer = self._describe(peer_pem)
        if peer.ca is None:
            msg = "client certificate was not issued directly by a configured CA"
            raise UnauthenticatedError(msg)
        proxy = _match(self._proxies, peer)
        if proxy is not None:
            return self._forwarded(*proxy, metadata)
        identity = _match(self._direct, peer)
        if identity is None:
            msg = "client certificate is not mapped to a principal"
            raise UnauthenticatedError(msg)
        return identity

    def _forwarded(self, proxy: str, header: str, metadata: Mapping[str, str]) -> Identity:
        fingerprint = metadata.get(header, "").lower()
        if _HEX64.fullmatch(fingerprint) is None:
            msg = f"call through trusted proxy {proxy} lacks a valid {header} header"
            raise UnauthenticatedError(msg)
        identity = self._proxied.get((proxy, fingerprint))
        if identity is None:
            msg = f"client certificate forwarded by {proxy} is not mapped to a principal"
            raise UnauthenticatedError(msg)
        return identity

    def _describe(self, peer_pem: bytes) -> PeerCertificate:
        return _describe_cached(peer_pem, tuple(self._cas.items()))


@functools.lru_cache(maxsize=1024)
def _describe_cached(
    peer_pem: bytes, cas: tuple[tuple[str, x509.Certificate], ...]
) -> PeerCertificate:
    try:
        cert = x509.load_pem_x509_certificate(peer_pem)
    except ValueError:
        msg = "client certificate cannot be parsed"
        raise UnauthenticatedError(msg) from None
    issuer = None
    for name, ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issuer = name
        break
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    return PeerCertificate(
        issuer,
        cn if isinstance(cn, str) else None,
        cert.fingerprint(hashes.SHA256()).hex(),
    )


def _add(table: dict[_K, Identity], key: _K, identity: Identity) -> None:
    if key in table:
        msg = (
            f"auth.clients: the rule for {identity.principal} matches the same "
            "certificate as another rule"
        )
        raise ConfigurationError(msg)
    table[key] = identity


def _match(table: Mapping[tuple[str, str, str], _V], peer: PeerCertificate) -> _V | None:
    ca = peer.ca or ""
    by_fingerprint = table.get((ca, "fp", peer.fingerprint))
    if by_fingerprint is not None:
        return by_fingerprint
    return table.get((ca, "cn", peer.subject_cn)) if peer.subject_cn else None


def _key(ca: str, subject_cn: str | None, fingerprint: str | None) -> tuple[str, str, str]:
    return (ca, "fp", fingerprint) if fingerprint is not None else (ca, "cn", subject_cn or "")


def _load_ca(path: Path, name: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except OSError as exc:
        msg = f"tls.client_cas {name}: cannot read {path}: {exc.strerror or exc}"
        raise ConfigurationError(msg) from None
    except ValueError:
        msg = f"tls.client_cas {name}: {path} is not a PEM certificate"
        raise ConfigurationError(msg) from None
