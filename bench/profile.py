"""Where a request's CPU goes: a py-spy recording summed into the service's cost centres.

    py-spy record --pid <service pid> --duration 10 --rate 250 --format raw --output get.txt
    python -m bench.profile get.txt

Each sample is charged to the first cost centre below that names one of its frames, so the
shares add up to 100% of the process's samples (idle time in the event loop's select
included). The order matters: the access log's own call into logging is the access log, and a
query logger's histogram update inside a fetch is metrics, not the query.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

# (cost centre, substrings of a py-spy frame "function (file:line)"); the first match wins.
CENTRES: list[tuple[str, tuple[str, ...]]] = [
    ("access log line (format + write)", ("AccessLogger.log",)),
    ("other log lines", ("Logger._log",)),
    ("metrics (prometheus-client, query logger)", ("prometheus_client/", "observe_query")),
    (
        "pool release (+ the RESET round trip unless reset=)",
        ("PoolConnectionHolder.release", "Pool.release"),
    ),
    ("pool acquire", ("Pool._acquire",)),
    ("query round trip (fetch/fetchrow)", ("Connection.fetchrow", "Connection.fetch (")),
    ("row -> User -> dict", ("from_record", "to_json", "iso8601")),
    ("JSON body (encode/decode)", ("json_response", "JSONEncoder", "read_json_object")),
    ("auth (API key check)", ("Authenticator.",)),
    ("request id", ("incoming_request_id",)),
    ("response write", ("finish_response",)),
    ("HTTP read + parse", ("data_received", "_read_ready")),
    ("waiting in select (idle)", ("select (selectors.py",)),
]


def summarise(lines: list[str]) -> tuple[Counter[str], int]:
    shares: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        shares[_centre(frames)] += samples
    return shares, total


def _centre(frames: list[str]) -> str:
    for name, needles in CENTRES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "everything else (event loop, aiohttp, middlewares, handlers)"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    shares, total = summarise(Path(sys.argv[1]).read_text().splitlines())
    print(f"{total} samples")
    for name, samples in shares.most_common():
        print(f"{100 * samples / max(total, 1):5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
