from pathlib import Path
from typing import Any

import pytest

from expert_draw.config import load_settings
from expert_draw.errors import ConfigurationError

BASE: dict[str, Any] = {
    "tls": {
        "server_cert": "s.pem",
        "server_key": "s.key",
        "client_cas": [{"name": "dev", "file": "ca.pem"}],
    },
    "classification": {"editions": [{"id": "2018", "path": "t.csv"}]},
    "audit": {"origin": "audit.test/x", "signing_key": "log.key"},
    "library": {"data_keys": "data-keys.json"},
}

TOML = """
listen = "127.0.0.1:6000"
[tls]
server_cert = "pki/s.pem"
server_key = "pki/s.key"
[[tls.client_cas]]
name = "dev"
file = "pki/ca.pem"
[classification]
current_edition = "2018"
[[classification.editions]]
id = "2018"
path = "t.csv"
[audit]
origin = "audit.test/x"
signing_key = "log.key"
[library]
data_keys = "data-keys.json"
[grpc]
max_workers = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expert-draw.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPERT_DRAW_GRPC__MAX_WORKERS", "5")
    monkeypatch.setenv("EXPERT_DRAW_LISTEN", "127.0.0.1:7000")
    settings = load_settings(write(tmp_path, TOML))
    assert settings.grpc.max_workers == 5
    assert settings.listen == "127.0.0.1:7000"
    assert settings.tls.client_cas[0].name == "dev"
    assert settings.path(settings.tls.server_cert) == tmp_path.resolve() / "pki/s.pem"
    assert settings.path(Path("/abs/x")) == Path("/abs/x")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TOML))
    with pytest.raises(ValueError):
        settings.listen = "x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"listen": "nowhere"}, "listen"),
        ({"health_listen": "0.0.0.0:50052"}, "health_listen must be a loopback"),
        (
            {"insecure": {"listen": "10.0.0.1:1", "principal": "dev:x", "role": "admin"}},
            "insecure.listen",
        ),
        ({"grpc": {"max_workers": 0}}, "grpc.max_workers"),
        (
            {
                "classification": {
                    "editions": [{"id": "2018", "path": "x"}],
                    "current_edition": "2030",
                }
            },
            "current_edition",
        ),
        ({"classification": {"editions": []}}, "classification.editions"),
        (
            {
                "auth": {
                    "clients": [
                        {"principal": "Bad Name", "role": "admin", "ca": "dev", "subject_cn": "x"}
                    ]
                }
            },
            "principal",
        ),
        (
            {
                "auth": {
                    "clients": [{"principal": "p", "role": "root", "ca": "dev", "subject_cn": "x"}]
                }
            },
            "role",
        ),
        (
            {"auth": {"clients": [{"principal": "p", "role": "admin", "ca": "dev"}]}},
            "exactly one of subject_cn",
        ),
        (
            {"auth": {"clients": [{"principal": "p", "role": "admin", "subject_cn": "x"}]}},
            "exactly one of ca or proxy",
        ),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_values_name_the_setting(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(None, **{**BASE, **change})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(write(tmp_path, "listen = "))


def test_check_files_names_the_setting(tmp_path: Path) -> None:
    settings = load_settings(None, **BASE, config_dir=str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"setting tls.server_cert: cannot read"):
        settings.check_files()
    for name in ("s.pem", "s.key", "ca.pem", "log.key", "data-keys.json"):
        (tmp_path / name).write_text("x")
    with pytest.raises(ConfigurationError, match=r"classification.editions\[0\].path \(2018\)"):
        settings.check_files()
    (tmp_path / "t.csv").write_text("x")
    settings.check_files()
