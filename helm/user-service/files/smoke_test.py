"""`helm test` smoke test: wait for /readyz, then a create/read/delete round trip on /users.

Runs inside the app image (stdlib only: no curl image can be pulled where this chart is built).
Usage: python smoke_test.py BASE_URL READY_TIMEOUT_SECONDS (mounted from a ConfigMap)
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

HTTP_OK = 200


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Send one request; return (status, decoded JSON body or None). HTTP errors are returned."""
    data = None if body is None else json.dumps(body).encode()
    if not url.startswith("http://"):
        sys.exit(f"FAIL: refusing non-http URL {url!r}")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked above)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (checked above)
            raw = response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    return status, json.loads(raw) if raw else None


def wait_ready(base: str, timeout: float) -> None:
    """Poll /readyz until it answers 200 (the migration hook may still be running)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _ = call("GET", f"{base}/readyz")
        except OSError as error:  # connection refused, DNS not there yet, timeouts
            status, detail = 0, str(error)
        else:
            detail = f"HTTP {status}"
        if status == HTTP_OK:
            print("readyz: 200")
            return
        if time.monotonic() > deadline:
            sys.exit(f"FAIL: /readyz not ready after {timeout:.0f}s ({detail})")
        time.sleep(2)


def expect(what: str, status: int, wanted: set[int]) -> None:
    """Exit non-zero with a readable line when a status is not one of those wanted."""
    if status not in wanted:
        sys.exit(f"FAIL: {what}: HTTP {status}, wanted {sorted(wanted)}")
    print(f"{what}: {status}")


def round_trip(base: str) -> None:
    """Create a uniquely named user, read it back, delete it, and check it is gone."""
    name = f"helm-test-{uuid.uuid4().hex[:12]}"
    user = {"username": name, "email": f"{name}@example.com"}
    status, created = call("POST", f"{base}/users", user)
    expect("create", status, {200, 201})
    if not isinstance(created, dict) or "id" not in created:
        sys.exit(f"FAIL: create returned no id: {created!r}")
    url = f"{base}/users/{created['id']}"
    status, fetched = call("GET", url)
    expect("read", status, {200})
    if not isinstance(fetched, dict) or fetched.get("username") != name:
        sys.exit(f"FAIL: read returned {fetched!r}")
    status, _ = call("DELETE", url)
    expect("delete", status, {200, 204})
    status, _ = call("GET", url)
    expect("read after delete", status, {404})


def main(argv: list[str]) -> None:
    """Entry point: BASE_URL READY_TIMEOUT_SECONDS."""
    base, timeout = argv[1].rstrip("/"), float(argv[2])
    wait_ready(base, timeout)
    round_trip(base)
    print("PASS")


if __name__ == "__main__":
    main(sys.argv)
