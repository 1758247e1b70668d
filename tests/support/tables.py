"""Edition tables for tests: the shared reference copies and synthetic CSV text."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TABLE_2018 = SHARED_DATA / "discipline-standard-2018.csv"
TABLE_2010 = SHARED_DATA / "discipline-standard-2010-trial.csv"
HEADER = "code,name,level,parent_code\n"


def csv_bytes(*rows: str) -> bytes:
    """Build a table from ``code,name,level,parent`` rows."""
    return (HEADER + "".join(f"{row}\n" for row in rows)).encode()


SMALL = csv_bytes(
    "A,工程类,0,",
    "A08,工程施工,1,A",
    "A0801,建筑工程,2,A08",
    "A080101,土建,3,A0801",
    "A080105,电气工程,3,A0801",
    "A0802,市政工程,2,A08",
    "B,货物类,0,",
    "B01,机电产品类,1,B",
)
