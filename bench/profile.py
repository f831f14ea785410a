"""Where a request's CPU goes: py-spy samples of the service under load, summed into cost centres.

The benchmark records the service process with py-spy during a window of its own for each of
GET by id, POST and the first list page (`record` below: blocking sampling at RATE Hz, idle
samples left out, wrk driving load as the measured scenarios do), classifies every sample
into one cost centre (`classify`, by the rules of RULES) and turns the shares into
microseconds per request: a centre's share of the samples x the scenario's measured server CPU
per request (`costs`). A raw file can be read again by hand:

    py-spy record --pid <service pid> --rate 250 --format raw --output get.txt
    python -m bench.profile get.txt            # shares by centre
    python -m bench.profile --other get.txt    # the innermost frames of what is left in "other"
    python -m bench.profile --centre "metrics" get.txt   # ... of one centre's samples
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

RATE = 250  # samples per second: a 4 s window at 64 connections holds ~1,000

# The cost centres, in the order the table and the chart show them.
ACCESS_LOG = "access log and other log lines"
METRICS = "metrics"
AUTH = "authentication"
REQUEST_ID = "request ids"
JSON = "JSON encode/decode"
POOL = "pool acquire/release"
QUERY = "asyncpg protocol and query"
HTTP = "aiohttp HTTP parsing and response writing"
HANDLER = "our handler, validation, other middleware"
SOCKET_READS = "socket reads (recv; asyncpg's compiled protocol)"
LOOP = "event loop and selector"
OTHER = "other"
CENTRES = (
    ACCESS_LOG, METRICS, AUTH, REQUEST_ID, JSON, POOL, QUERY, HTTP, HANDLER, SOCKET_READS, LOOP,
    OTHER,
)  # fmt: skip
# Not a centre: a frame whose cost is its caller's (the send system call of a socket write is
# the cost of whoever writes: aiohttp's response, asyncpg's query or its pool's release).
CALLER = "(the caller's)"

# How far a rule's frame reaches.
CALLS = "calls"  # the frame and everything it calls: the access log's json encoder is the log's
FRAME = "frame"  # the frame itself, when nothing it calls has a centre of its own
OWN = "own"  # only when it is the innermost frame: the loop's own code, not what it runs


@dataclass(frozen=True, slots=True)
class Rule:
    """Frames of `file` (a path suffix as py-spy prints it: "service/logs.py") belong to
    `centre`; only the functions named in `functions` ("Class.method" as py-spy prints it, or
    the bare name) when it is not empty."""

    centre: str
    file: str
    functions: frozenset[str] = frozenset()
    reach: str = FRAME

    def matches(self, file: str, function: str) -> bool:
        if not (file == self.file or file.endswith("/" + self.file)):
            return False
        if not self.functions:
            return True
        return function in self.functions or function.rpartition(".")[2] in self.functions


def _rule(centre: str, file: str, *functions: str, reach: str = FRAME) -> Rule:
    return Rule(centre, file, frozenset(functions), reach)


# Each sample's stack is read from its innermost frame out, and each frame takes the first rule
# below that matches it. The innermost frame whose rule reaches CALLS decides; with none, the
# innermost FRAME rule's frame (or OWN, if that frame is the innermost); with none either, OTHER.
# Middlewares are FRAME, not CALLS: each wraps the rest of the request, so a middleware's own
# lines count for its centre and what its handler calls for theirs. Read with the stacks of a
# real run (`python -m bench.profile --other FILE`, and `--centre NAME` for one centre).
RULES: tuple[Rule, ...] = (
    # One log line: the logger, our filter and formatter, python-json-logger, the write.
    _rule(ACCESS_LOG, "logging/__init__.py", reach=CALLS),
    _rule(ACCESS_LOG, "service/logs.py", "AccessLogger.log", "_Formatter.format",
          "_Formatter.formatTime", "_RequestIdFilter.filter", "_MalformedRequestFilter.filter",
          reach=CALLS),
    _rule(ACCESS_LOG, "pythonjsonlogger/json.py", reach=CALLS),
    _rule(ACCESS_LOG, "pythonjsonlogger/core.py", reach=CALLS),
    _rule(ACCESS_LOG, "aiohttp/web_log.py", reach=CALLS),
    _rule(ACCESS_LOG, "aiohttp/web_protocol.py", "RequestHandler.log_access", reach=CALLS),
    # The request's and the queries' series: prometheus-client and our calls into it.
    _rule(METRICS, "prometheus_client/metrics.py", reach=CALLS),
    _rule(METRICS, "prometheus_client/values.py", reach=CALLS),
    _rule(METRICS, "prometheus_client/utils.py", reach=CALLS),
    _rule(METRICS, "service/metrics.py", "metrics_middleware"),
    _rule(METRICS, "service/metrics.py", reach=CALLS),  # observe_request, the query logger
    _rule(METRICS, "service/logs.py", "route_template", reach=CALLS),  # the request's label
    _rule(AUTH, "service/auth.py", "auth_middleware"),
    _rule(AUTH, "service/auth.py", reach=CALLS),
    _rule(AUTH, "service/api_keys.py", reach=CALLS),
    _rule(REQUEST_ID, "service/logs.py", "request_id_middleware"),
    _rule(REQUEST_ID, "service/logs.py", "incoming_request_id", "new_request_id", reach=CALLS),
    _rule(JSON, "json/__init__.py"),
    _rule(JSON, "json/encoder.py"),
    _rule(JSON, "json/decoder.py"),
    # Borrowing and returning a connection: asyncpg's pool and the service's wrapper around it
    # (Database.connection: the acquire, the request's deadline, the release).
    _rule(POOL, "asyncpg/pool.py", "Pool.acquire", "Pool._acquire", "_acquire_impl",
          "Pool.release", "PoolAcquireContext.__aenter__", "PoolAcquireContext.__aexit__",
          "PoolAcquireContext.__await__", "PoolConnectionHolder.acquire",
          "PoolConnectionHolder.release", "PoolConnectionHolder._release", "Pool._release",
          reach=CALLS),
    _rule(POOL, "service/db.py", "Database.connection", "Database._release", reach=CALLS),
    _rule(QUERY, "asyncpg/connection.py"),
    _rule(QUERY, "asyncpg/pool.py"),  # the pool's connection proxy
    _rule(QUERY, "asyncpg/connresource.py"),
    _rule(QUERY, "asyncpg/prepared_stmt.py"),
    _rule(QUERY, "asyncpg/protocol/protocol.pyx"),
    _rule(QUERY, "service/db.py"),
    _rule(HTTP, "aiohttp/web_protocol.py"),
    _rule(HTTP, "aiohttp/http_parser.py"),
    _rule(HTTP, "aiohttp/http_writer.py"),
    _rule(HTTP, "aiohttp/web_response.py"),
    _rule(HTTP, "aiohttp/web_request.py"),
    _rule(HTTP, "aiohttp/helpers.py"),
    _rule(HTTP, "aiohttp/streams.py"),
    _rule(HTTP, "aiohttp/base_protocol.py"),
    _rule(HTTP, "aiohttp/web_urldispatcher.py"),
    _rule(HTTP, "aiohttp/web_app.py"),
    _rule(HTTP, "aiohttp/web_middlewares.py"),
    _rule(HTTP, "aiohttp/tcp_helpers.py"),
    _rule(HTTP, "multidict/__init__.py"),
    _rule(HTTP, "yarl/_url.py"),
    _rule(HANDLER, "service/users.py"),
    _rule(HANDLER, "service/user_resource.py"),
    _rule(HANDLER, "service/validation.py"),
    _rule(HANDLER, "service/pagination.py"),
    _rule(HANDLER, "service/handlers.py"),
    _rule(HANDLER, "service/errors.py"),
    _rule(HANDLER, "service/health.py"),
    _rule(HANDLER, "service/routes.py"),
    # A send is its writer's cost; a read is the loop's, with whatever asyncpg's compiled
    # protocol (no Python frames of its own) does with the bytes.
    _rule(CALLER, "asyncio/selector_events.py", "_SelectorSocketTransport.write",
          "_SelectorSocketTransport.writelines", "_SelectorTransport.write"),
    _rule(SOCKET_READS, "asyncio/selector_events.py", "_read_ready__data_received",
          "_read_ready__get_buffer", "_read_ready", reach=OWN),
    _rule(LOOP, "asyncio/base_events.py", reach=OWN),
    _rule(LOOP, "asyncio/events.py", reach=OWN),
    _rule(LOOP, "asyncio/selector_events.py", reach=OWN),
    _rule(LOOP, "selectors.py", reach=OWN),
)  # fmt: skip

_FRAME = re.compile(r"(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)")


def frame_parts(frame: str) -> tuple[str, str]:
    """ "Class.method (pkg/module.py:123)" -> ("pkg/module.py", "Class.method")."""
    match = _FRAME.fullmatch(frame.strip())
    if match is None:
        return "", frame.strip()
    return match["file"], match["function"]


def rule_for(frame: str, rules: Iterable[Rule] = RULES) -> Rule | None:
    """The first rule that matches a py-spy frame, if any."""
    file, function = frame_parts(frame)
    return next((rule for rule in rules if rule.matches(file, function)), None)


def classify(frames: list[str], rules: tuple[Rule, ...] = RULES) -> str:
    """The cost centre of one sample; `frames` outermost first, as py-spy writes them."""
    innermost: str | None = None
    for depth, frame in enumerate(reversed(frames)):
        rule = rule_for(frame, rules)
        if rule is None or rule.centre == CALLER:
            continue
        if rule.reach == CALLS:
            return rule.centre
        if innermost is None and (rule.reach == FRAME or depth == 0):
            innermost = rule.centre
    return innermost or OTHER


def parse_raw(lines: Iterable[str]) -> Iterable[tuple[list[str], int]]:
    """py-spy's raw (collapsed) format: "outer;...;inner COUNT" per line."""
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def summarise(lines: Iterable[str], rules: tuple[Rule, ...] = RULES) -> Counter[str]:
    """Samples per cost centre."""
    centres: Counter[str] = Counter()
    for frames, count in parse_raw(lines):
        centres[classify(frames, rules)] += count
    return centres


def innermost_frames(
    lines: Iterable[str], centre: str, rules: tuple[Rule, ...] = RULES
) -> Counter[str]:
    """The innermost frames (function and file, no line) of the samples charged to `centre`."""
    found: Counter[str] = Counter()
    for frames, count in parse_raw(lines):
        if classify(frames, rules) == centre:
            file, function = frame_parts(frames[-1])
            found[f"{function} ({file})"] += count
    return found


@dataclass(frozen=True, slots=True)
class Profile:
    """One scenario's recording; `error` says why there is none."""

    scenario: str
    connections: int
    samples: dict[str, int]  # per cost centre
    server_us: float  # the scenario's measured server CPU per request (not profiled)
    window_rps: float  # throughput while py-spy sampled (it pauses the process per sample)
    window_server_us: float  # server CPU per request while py-spy sampled
    error: str | None = None
    variant: str = ""  # bench --compare: which variant of the service

    @property
    def label(self) -> str:
        variant = f", {self.variant}" if self.variant else ""
        return f"{self.scenario} @{self.connections}{variant}"

    @property
    def total(self) -> int:
        return sum(self.samples.values())

    def costs(self) -> dict[str, float]:
        """Microseconds per request per centre: its share of the samples x the scenario's
        server CPU per request. They add up to that figure."""
        return costs(self.samples, self.server_us)


def costs(samples: dict[str, int], server_us: float) -> dict[str, float]:
    total = sum(samples.values())
    if total == 0:
        return {}
    return {c: server_us * samples[c] / total for c in CENTRES if samples.get(c)}


def py_spy() -> str | None:
    """The py-spy next to this Python (the dev extra installs it), else one on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """`py-spy record` of one process, from start() until stop(); stop() says what went wrong."""

    def __init__(self, pid: int, output: Path, rate: int = RATE) -> None:
        self.output = output
        self._log = output.with_suffix(".log")
        binary = py_spy()
        self._process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        if binary is None:
            self.error = "py-spy is not installed (the dev extra's requirements/dev.txt has it)"
            return
        # Blocking (the process is paused for each sample, so stacks are consistent); idle
        # samples left out, so the shares are of the time the process was on a CPU.
        command = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                   "--output", str(output)]  # fmt: skip
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our py-spy, our arguments
                command, stdout=log, stderr=subprocess.STDOUT
            )
        # Attached once it says so; a refusal (no ptrace here) exits at once.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None or b"Sampling process" in self._read_log():
                break
            time.sleep(0.05)

    def _read_log(self) -> bytes:
        try:
            return self._log.read_bytes()
        except OSError:
            return b""

    def stop(self) -> str | None:
        process = self._process
        if process is None:
            return self.error
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        text = self._read_log().decode(errors="replace").strip()
        if not self.output.exists() or not self.output.read_text().strip():
            last = text.splitlines()[-3:] if text else ["no output"]
            self.error = f"py-spy exited {process.returncode}: {' / '.join(last)}"
        return self.error


def record_window(
    pid: int, output: Path, load: Callable[[], object], rate: int = RATE
) -> tuple[Counter[str], str | None]:
    """Samples per centre while `load()` runs, and why there are none if so."""
    recording = Recording(pid, output, rate)
    if recording.error is not None:
        return Counter(), recording.error
    try:
        load()
    finally:
        error = recording.stop()
    if error is not None:
        return Counter(), error
    return summarise(output.read_text().splitlines()), None


def table(profiles: list[Profile]) -> list[str]:
    """Markdown: microseconds per request per centre, a column per scenario (share in brackets)."""
    done = [p for p in profiles if p.error is None and p.total]
    if not done:
        return []
    out = [
        "| cost centre | " + " | ".join(p.label for p in done) + " |",
        "|---|" + "--:|" * len(done),
    ]
    for centre in CENTRES:
        cells = []
        for p in done:
            share = p.samples.get(centre, 0) / p.total
            cells.append(f"{p.costs().get(centre, 0.0):,.1f} ({share:.1%})")
        out.append(f"| {centre} | " + " | ".join(cells) + " |")
    out.append(
        "| **server CPU per request, us** | "
        + " | ".join(f"**{p.server_us:,.0f}**" for p in done)
        + " |"
    )
    out.append("| samples | " + " | ".join(f"{p.total:,}" for p in done) + " |")
    out.append(
        "| while sampled: req/s, server CPU us/req | "
        + " | ".join(f"{p.window_rps:,.0f}, {p.window_server_us:,.0f}" for p in done)
        + " |"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    centre = None
    if args[:1] == ["--other"]:
        centre, args = OTHER, args[1:]
    elif args[:1] == ["--centre"] and len(args) > 1:
        centre, args = args[1], args[2:]
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(args) != 1 or not Path(args[0]).is_file():
        print(__doc__, file=sys.stderr)
        return 2
    lines = Path(args[0]).read_text().splitlines()
    if centre is not None:
        for frame, count in innermost_frames(lines, centre).most_common(40):
            print(f"{count:6}  {frame}")
        return 0
    centres = summarise(lines)
    total = sum(centres.values())
    print(f"{total} samples")
    for name, count in centres.most_common():
        print(f"{100 * count / max(total, 1):5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
