r"""Refused streams when a connection's stream bound equals a client's calls in flight.

A grpcio server with `grpc.max_concurrent_streams` = STREAMS and a trivial handler (a
little Python work per call), optionally with HOG threads spinning Python beside it (a
busy server); a client process on one channel keeps CALLS calls in flight for SECONDS.
Prints how many calls succeeded and how many were refused (RST_STREAM REFUSED_STREAM,
which grpcio reports as UNAVAILABLE). The server releases an ended call's stream a
little after the client sees it end, so a client that sends its next call at once can
meet the bound though it never has more than CALLS open: the reason
`[grpc] max_streams_per_connection` defaults to twice `max_calls_per_client`
(docs/adr/0021-failure-semantics-and-limits.md, item 3). Loopback, no TLS, no service.

    .venv/bin/python bench/stream_bound.py [--calls 4] [--streams 4,5,6,8] [--hogs 0,2] [--seconds 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from concurrent import futures

import grpc

CLIENT = """
import collections, sys, threading, time
import grpc
port, calls, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
call = channel.unary_unary("/bench.Bound/Call")
call(b"x", timeout=10)  # connected, the server's SETTINGS known
outcomes = collections.Counter()
lock = threading.Lock()
end = time.monotonic() + seconds
def loop():
    while time.monotonic() < end:
        try:
            call(b"x", timeout=10)
            code = "ok"
        except grpc.RpcError as error:
            code = "refused" if "error code 7" in (error.details() or "") else error.code().name
        with lock:
            outcomes[code] += 1
threads = [threading.Thread(target=loop) for _ in range(calls)]
for t in threads: t.start()
for t in threads: t.join()
print(outcomes["ok"], outcomes["refused"], sum(outcomes.values()) - outcomes["ok"] - outcomes["refused"])
"""


def measure(streams: int, calls: int, hogs: int, seconds: float) -> tuple[int, int, int]:
    """(calls served, calls refused, other failures) for one setting."""
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            sum(range(1000))

    def handle(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        sum(range(20_000))
        return b"ok"

    handler = grpc.method_handlers_generic_handler(
        "bench.Bound", {"Call": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_concurrent_streams", streams)],
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    spinning = [threading.Thread(target=hog, daemon=True) for _ in range(hogs)]
    for thread in spinning:
        thread.start()
    try:
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, str(port), str(calls), str(seconds)],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout.split()  # fmt: skip
    finally:
        stop.set()
        server.stop(0)
    served, refused, other = (int(x) for x in out)
    return served, refused, other


def main() -> None:
    """Measure each (hogs, streams) setting and print a line for it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--streams", default="4,5,6,8")
    parser.add_argument("--hogs", default="0,2")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    print(f"{args.calls} calls in flight on one connection, {args.seconds:g} s each:")
    for hogs in (int(h) for h in args.hogs.split(",")):
        for streams in (int(s) for s in args.streams.split(",")):
            served, refused, other = measure(streams, args.calls, hogs, args.seconds)
            share = 100 * refused / max(1, served + refused + other)
            print(f"  bound {streams:3d}, {hogs} hog threads: {served:6d} served,"
                  f" {refused:6d} refused ({share:.0f} %), {other} other failures")  # fmt: skip


if __name__ == "__main__":
    main()
