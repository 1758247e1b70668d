"""Bulk import time: `expert-draw experts import` of a synthetic library, over mTLS.

Generates N rows with bench/generate_library.py (seed 1), starts `expert-draw serve` on
SQLite as its own process (dev PKI and settings in a temporary folder, as `make serve`),
then times the CLI importing the file (read, check every row, import all in one
transaction) and importing it a second time (every row unchanged, nothing written).

    .venv/bin/python bench/import_experts.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rpc_reads import BIN, start_server

HERE = Path(__file__).resolve().parent


def run_import(var: Path, port: int, file: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [BIN / "expert-draw", "experts", "import", file, "--client-config", var / "client.toml",
         "--target", f"127.0.0.1:{port}", "-p", "admin"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"import failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")
    return elapsed, result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        file = folder / "experts.csv"
        subprocess.run(
            [sys.executable, HERE / "generate_library.py", "--count", str(args.rows), "--seed", "1", "--out", file],
            check=True, capture_output=True,
        )  # fmt: skip
        process, port = start_server(folder / "var")
        try:
            first, said = run_import(folder / "var", port, file)
            print(
                f"import of {args.rows} rows: {first:.1f} s ({args.rows / first:,.0f} rows/s): {said}"
            )
            again, said = run_import(folder / "var", port, file)
            print(f"second import of the same file: {again:.1f} s: {said}")
            size = (folder / "var" / "expert-draw.db").stat().st_size
            print(
                f"SQLite file after the import: {size / 1e6:.0f} MB ({size / args.rows:,.0f} bytes per expert)"
            )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
