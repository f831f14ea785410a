"""`helm test` smoke test: wait for /readyz, check that /users wants a key, then a
create/read/delete round trip on /users with the release's API key.

Runs inside the app image (stdlib only: no curl image can be pulled where this chart is built).
Usage: python smoke_test.py BASE_URL READY_TIMEOUT_SECONDS [API_KEY_FILE]
(mounted from a ConfigMap). With API_KEY_FILE, authentication is expected: a request without a
key must get 401, and the round trip uses the key in that file (a mounted Secret). When that file
is missing (an optional key of a user-provided Secret), only the 401 is checked. Without
API_KEY_FILE (auth.disabled) the round trip runs without a key. The key is never printed.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HTTP_OK = 200
HTTP_UNAUTHORIZED = 401


def call(
    method: str, url: str, body: dict[str, Any] | None = None, key: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    """Send one request; return (status, decoded JSON body or None, headers). HTTP errors are
    returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    if not url.startswith("http://"):
        sys.exit(f"FAIL: refusing non-http URL {url!r}")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked above)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (checked above)
            raw = response.read()
            status = int(response.status)
            headers = dict(response.headers.items())
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
        headers = dict(error.headers.items())
    return status, json.loads(raw) if raw else None, headers


def wait_ready(base: str, timeout: float) -> None:
    """Poll /readyz until it answers 200 (the migration hook may still be running)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, _, _ = call("GET", f"{base}/readyz")
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


def refuses_anonymous(base: str) -> None:
    """/users without a key: 401 and a Bearer challenge."""
    status, _, headers = call("GET", f"{base}/users")
    expect("list without a key", status, {HTTP_UNAUTHORIZED})
    challenge = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
    if not challenge.startswith("Bearer"):
        sys.exit(f"FAIL: 401 without a Bearer challenge: {challenge!r}")


def round_trip(base: str, key: str | None) -> None:
    """Create a uniquely named user, read it back, delete it, and check it is gone."""
    name = f"helm-test-{uuid.uuid4().hex[:12]}"
    user = {"username": name, "email": f"{name}@example.com"}
    status, created, _ = call("POST", f"{base}/users", user, key)
    expect("create", status, {200, 201})
    if not isinstance(created, dict) or "id" not in created:
        sys.exit(f"FAIL: create returned no id: {created!r}")
    url = f"{base}/users/{created['id']}"
    status, fetched, _ = call("GET", url, key=key)
    expect("read", status, {200})
    if not isinstance(fetched, dict) or fetched.get("username") != name:
        sys.exit(f"FAIL: read returned {fetched!r}")
    status, _, _ = call("DELETE", url, key=key)
    expect("delete", status, {200, 204})
    status, _, _ = call("GET", url, key=key)
    expect("read after delete", status, {404})


def main(argv: list[str]) -> None:
    """Entry point: BASE_URL READY_TIMEOUT_SECONDS [API_KEY_FILE]."""
    base, timeout = argv[1].rstrip("/"), float(argv[2])
    key_file = Path(argv[3]) if len(argv) > 3 else None
    wait_ready(base, timeout)
    if key_file is None:
        print("auth: disabled, round trip without a key")
        round_trip(base, None)
    else:
        refuses_anonymous(base)
        if not key_file.is_file():
            print(f"auth: no test key at {key_file}: checked the refusal only, no round trip")
        else:
            round_trip(base, key_file.read_text().strip())
    print("PASS")


if __name__ == "__main__":
    main(sys.argv)
