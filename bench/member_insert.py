r"""What a commit's member rows cost PostgreSQL, with and without their foreign keys.

A throwaway PostgreSQL 15 cluster (tests/support/postgres.py), a table of EXPERTS
experts, and four copies of the draw and draw_member tables (columns and indexes as in
expert_draw/adapters/db/models.py): with both foreign keys (to the expert and to the
draw), with one of them, and with none. Each round inserts a draw row and MEMBERS member
rows in one statement of arrays (as Draws._insert_draw does on PostgreSQL), then commits;
the copies take turns. Prints p50 of the insert and of the commit for each.

    PYTHONPATH=. .venv/bin/python bench/member_insert.py [--members 150] [--rounds 3] [--draws 60]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import psycopg

from tests.support.postgres import PgCluster

VARIANTS = {"both": (True, True), "draw only": (False, True), "expert only": (True, False),
            "none": (False, False)}  # fmt: skip


def main() -> None:
    """Measure and print the p50s."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=2000)
    parser.add_argument("--members", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=60)
    args = parser.parse_args()
    cluster = PgCluster()
    try:
        conninfo = cluster.launch().replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE expert (id serial PRIMARY KEY, uuid bytea NOT NULL)")
            conn.execute("INSERT INTO expert (uuid) SELECT decode(md5(i::text), 'hex')"
                         " FROM generate_series(1, %s) i", (args.experts,))  # fmt: skip
            for n, (to_expert, to_draw) in enumerate(VARIANTS.values()):
                conn.execute(f"CREATE TABLE d{n} (id serial PRIMARY KEY, x int)")
                conn.execute(
                    f"CREATE TABLE m{n} (draw_id int {f'REFERENCES d{n} (id)' if to_draw else ''},"
                    " pseud bytea, expert_id int NOT NULL"
                    f" {'REFERENCES expert (id)' if to_expert else ''}, discs varchar(200),"
                    ' reasons varchar(200), idc bytea, salt_enc bytea, seat varchar(16), "left"'
                    " boolean NOT NULL, PRIMARY KEY (draw_id, pseud))"
                )  # fmt: skip
                conn.execute(f'CREATE INDEX ON m{n} (expert_id, "left", draw_id)'
                             " WHERE seat IS NOT NULL")  # fmt: skip
        times: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in VARIANTS}
        rnd = random.Random(1)
        with psycopg.connect(conninfo) as conn:
            for _ in range(args.rounds):
                for n, name in enumerate(VARIANTS):
                    for _ in range(args.draws):
                        ids = rnd.sample(range(1, args.experts + 1), args.members)
                        pseuds = [os.urandom(32) for _ in ids]
                        began = time.perf_counter()
                        conn.execute(
                            f"WITH d AS (INSERT INTO d{n} (x) VALUES (1) RETURNING id)"  # noqa: S608 - n is an int
                            f" INSERT INTO m{n} (draw_id, pseud, expert_id, discs, reasons, idc,"
                            ' salt_enc, seat, "left") SELECT d.id, m.*, NULL, NULL, false'
                            " FROM d, unnest(%s::bytea[], %s::int[], %s::text[], %s::text[],"
                            " %s::bytea[]) AS m",
                            (pseuds, ids, ["C0201"] * len(ids), [""] * len(ids), pseuds),
                        )  # fmt: skip
                        inserted = time.perf_counter()
                        conn.commit()
                        times[name][0].append(inserted - began)
                        times[name][1].append(time.perf_counter() - inserted)
        print(f"{args.members} member rows per draw, {args.rounds * args.draws} draws each (p50):")
        for name, (insert, commit) in times.items():
            print(f"  foreign keys {name:12s} insert {1000 * statistics.median(insert):.2f} ms,"
                  f" commit {1000 * statistics.median(commit):.2f} ms")  # fmt: skip
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
