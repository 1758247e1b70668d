"""Generate the Python gRPC code and mypy stubs from proto/ (``make proto``).

One pinned command (grpcio-tools, mypy-protobuf; versions in pyproject.toml) writes
expert_draw/api/v1/*_pb2.py, *_pb2_grpc.py and their .pyi stubs. The proto path mirrors
the import path, so the output imports work without rewriting. ``--check`` regenerates
into a temporary folder and fails on any difference from the committed files.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("expert_draw/api/v1")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
DEPS = ("google/api/field_behavior.proto", "google/api/resource.proto", "google/type/date.proto")


def _googleapis_include() -> Path:
    import google.api

    return Path(next(iter(google.api.__path__))).parent.parent


def generate(out: Path) -> list[Path]:
    """Run protoc into ``out`` and return the generated files, relative to ``out``."""
    protos = sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{PROTO_ROOT}", f"-I{_googleapis_include()}",
        f"--python_out={out}", f"--grpc_python_out={out}",
        f"--mypy_out={out}", f"--mypy_grpc_out={out}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT, env=env)
    return sorted(p.relative_to(out) for p in (out / PACKAGE).iterdir() if p.is_file())


def _committed() -> set[Path]:
    return {
        p.relative_to(ROOT)
        for p in (ROOT / PACKAGE).iterdir()
        if p.is_file() and p.name.endswith(SUFFIXES)
    }


def copy_deps(target: Path) -> None:
    """Copy the Google API protos we import into ``target`` for ``buf lint``."""
    for name in DEPS:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_googleapis_include() / name, target / name)


def main(argv: list[str]) -> int:
    """Generate into the tree; ``--check`` compares instead; ``--deps`` copies imports."""
    if "--deps" in argv:
        copy_deps(ROOT / ".proto-deps")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generated = generate(out)
        if "--check" in argv:
            drift = sorted(
                str(p)
                for p in set(generated) | _committed()
                if not (out / p).exists()
                or not (ROOT / p).exists()
                or not filecmp.cmp(out / p, ROOT / p, shallow=False)
            )
            if drift:
                print("generated code differs from proto/ (run `make proto`):", *drift, sep="\n  ")
                return 1
            print(f"generated code matches proto/ ({len(generated)} files)")
            return 0
        for stale in _committed() - set(generated):
            (ROOT / stale).unlink()
        for path in generated:
            shutil.copyfile(out / path, ROOT / path)
        print(f"wrote {len(generated)} files to {PACKAGE}")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
