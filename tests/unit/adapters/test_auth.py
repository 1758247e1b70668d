import hashlib
from typing import Any

import pytest

from expert_draw.adapters.grpc.auth import Authenticator, Identity
from expert_draw.config import Role, load_settings
from expert_draw.errors import ConfigurationError, UnauthenticatedError
from tests.support.pki import Pki
from tests.support.service import RULES


def settings(pki: Pki, **auth: Any) -> Any:
    return load_settings(
        None,
        config_dir=str(pki.folder),
        tls={
            "server_cert": "server.pem",
            "server_key": "server.key",
            "client_cas": [
                {"name": "dev", "file": "ca-dev.pem"},
                {"name": "other", "file": "ca-other.pem"},
            ],
        },
        auth={"clients": RULES, **auth},
        classification={"editions": [{"id": "2018", "path": "x.csv"}]},
        audit={"origin": "audit.test/x", "signing_key": "log.key"},
        library={"data_keys": "data-keys.json"},
    )


def pem(pki: Pki, name: str) -> bytes:
    return pki.clients[name].cert_pem


def test_maps_certificates_of_both_trusted_cas(pki: Pki) -> None:
    auth = Authenticator(settings(pki))
    assert auth.identify(pem(pki, "admin"), {}) == Identity("dev:admin", Role.ADMIN)
    assert auth.identify(pem(pki, "other_ca_supervisor"), {}) == Identity(
        "bureau:supervisor", Role.SUPERVISOR
    )


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ("unmapped", "not mapped"),
        ("imposter", "not mapped"),  # same CN as the admin, issued by another trusted CA
        ("rogue", "not issued directly by a configured CA"),
    ],
)
def test_refuses_unmapped_certificates(pki: Pki, client: str, message: str) -> None:
    with pytest.raises(UnauthenticatedError, match=message):
        Authenticator(settings(pki)).identify(pem(pki, client), {})


def test_refuses_missing_and_garbage_certificates(pki: Pki) -> None:
    auth = Authenticator(settings(pki))
    with pytest.raises(UnauthenticatedError, match="no client certificate"):
        auth.identify(None, {})
    with pytest.raises(UnauthenticatedError, match="cannot be parsed"):
        auth.identify(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {})


def test_fingerprint_rule(pki: Pki) -> None:
    fingerprint = pki.clients["unmapped"].fingerprint
    rule = {
        "principal": "fp:client",
        "role": "supervisor",
        "ca": "dev",
        "fingerprint_sha256": fingerprint,
    }
    auth = Authenticator(settings(pki, clients=[*RULES, rule]))
    assert auth.identify(pem(pki, "unmapped"), {}).principal == "fp:client"


def test_trusted_proxy_forwards_a_mapped_fingerprint(pki: Pki) -> None:
    sm2_client = hashlib.sha256(b"an SM2 certificate the gateway verified").hexdigest()
    auth = Authenticator(
        settings(
            pki,
            trusted_proxies=[{"name": "tlcp-gw", "ca": "dev", "subject_cn": "tlcp-gateway"}],
            clients=[*RULES, {"principal": "sm2:trading-09", "role": "trading_system", "proxy": "tlcp-gw",
                              "fingerprint_sha256": sm2_client}],
        )
    )  # fmt: skip
    gateway = pem(pki, "gateway")
    identity = auth.identify(gateway, {"x-client-cert-sha256": sm2_client.upper()})
    assert identity == Identity("sm2:trading-09", Role.TRADING_SYSTEM, via="tlcp-gw")
    with pytest.raises(UnauthenticatedError, match="lacks a valid"):
        auth.identify(gateway, {})
    with pytest.raises(UnauthenticatedError, match="forwarded by tlcp-gw is not mapped"):
        auth.identify(gateway, {"x-client-cert-sha256": "0" * 64})
    # The forwarded header means nothing on a direct (non-proxy) connection.
    assert (
        auth.identify(pem(pki, "admin"), {"x-client-cert-sha256": sm2_client}).principal
        == "dev:admin"
    )


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        (
            {"clients": [{"principal": "a", "role": "admin", "ca": "nope", "subject_cn": "x"}]},
            "not in tls.client_cas",
        ),
        (
            {
                "clients": [
                    {
                        "principal": "a",
                        "role": "admin",
                        "proxy": "gw",
                        "fingerprint_sha256": "0" * 64,
                    }
                ]
            },
            "unknown proxy",
        ),
        (
            {
                "clients": [
                    *RULES,
                    {"principal": "x", "role": "admin", "ca": "dev", "subject_cn": "dev-admin"},
                ]
            },
            "same certificate",
        ),
    ],
)
def test_inconsistent_rules_fail_at_start(pki: Pki, auth: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Authenticator(settings(pki, **auth))


def test_unreadable_ca_file(pki: Pki, tmp_path: Any) -> None:
    broken = settings(pki).model_copy(update={"config_dir": tmp_path})
    with pytest.raises(ConfigurationError, match="cannot read"):
        Authenticator(broken)
    (tmp_path / "ca-dev.pem").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="not a PEM certificate"):
        Authenticator(broken)
