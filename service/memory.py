"""Hands the C allocator's free memory back to the operating system, once a minute.

glibc's malloc keeps the pages of freed memory for reuse unless they sit at the top of its heap.
A process that serves many small requests fragments that heap, so its RSS, which is what a
pod's memory limit, the kubelet's evictions and a memory-based autoscaler see, creeps up with
memory that is free inside the process while the live objects stay flat (docs/benchmark.md,
"Soak"). malloc_trim(0) returns those pages; it takes about a millisecond. Where the C library
is not glibc (musl, macOS) there is no malloc_trim and nothing to do.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

TRIM_INTERVAL_SECONDS = 60.0


def glibc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl has no libc.so.6, nor a malloc_trim
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


async def _trim_every(trim: Callable[[int], int], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        trim(0)


async def release_free_memory(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: trims while the app runs."""
    trim = glibc_malloc_trim()
    task = asyncio.create_task(_trim_every(trim, TRIM_INTERVAL_SECONDS)) if trim else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
