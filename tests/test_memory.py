"""The app hands freed heap pages back to the OS (service/memory.py); the soak measures the
effect over 30 minutes (docs/benchmark.md), this checks the mechanism on this platform."""

from __future__ import annotations

import random
import sys

import pytest

from service import memory
from service.app import create_app
from service.config import Settings
from tests.helpers import base_environ


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_returns_a_fragmented_heap_to_the_os() -> None:
    trim = memory.glibc_malloc_trim()
    assert trim is not None
    trim(0)
    # Blocks above pymalloc's 512-byte limit (and below malloc's mmap threshold) come from
    # malloc's heap; freeing all but a few leaves whole free pages between live blocks, which
    # malloc keeps unless trimmed (only a free top of the heap goes back by itself).
    blocks = [bytes(16384 + random.randint(0, 512)) for _ in range(4_000)]
    blocks = blocks[::32]
    before = _rss_kib()
    trim(0)
    released = before - _rss_kib()
    del blocks
    assert released > 10_000, f"only {released} KiB released"


def test_the_app_trims_while_it_runs() -> None:
    app = create_app(Settings.from_env(base_environ("postgresql://u:p@127.0.0.1:1/db")))
    assert memory.release_free_memory in app.cleanup_ctx
