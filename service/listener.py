"""Closing a listening socket without resetting the connections waiting in its accept queue.

A client's connection is established once the kernel completes its handshake, before the
application accepts it: the client sends its request at once. Closing the listening socket
resets every connection still queued, request and all. So the drain first stops new handshakes
(a socket filter drops incoming SYNs; their clients retry and then find the port closed, a
refusal with no request sent), lets the event loop accept what is queued, then closes.
The filter is Linux's classic BPF; elsewhere the socket simply closes (development machines).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import socket
import struct
import sys

logger = logging.getLogger(__name__)

_SO_ATTACH_FILTER = 26  # Linux, all architectures; the socket module does not export it
_TCP_INFO_UNACKED = 24  # offset of tcpi_unacked: a listener's accept-queue length
_TCP_FLAGS_OFFSET = 13  # a socket filter sees the TCP header at offset 0
_SYN, _ACK = 0x02, 0x10
# Handshakes already answered (SYN-ACK sent) complete within a round trip: wait that long for
# them to reach the queue before closing.
HANDSHAKE_GRACE_SECONDS = 0.05
_POLL_SECONDS = 0.005


def listening_sockets(host: str, port: int, backlog: int) -> list[socket.socket]:
    """What asyncio's create_server would bind for (host, port), one socket per address the
    host resolves to, but ours to hold off new connections on (an IPv6 one is IPv6 only)."""
    addresses = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, _, _, _, address in dict.fromkeys(addresses):
            sockets.append(socket.create_server(address, family=family, backlog=backlog))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _drop_new_handshakes_program() -> bytes:
    """Drops a segment with SYN set and ACK clear (a new connection); passes everything else,
    including the final ACK of handshakes under way."""
    instructions = [
        (0x30, 0, 0, _TCP_FLAGS_OFFSET),  # ldb [13]
        (0x54, 0, 0, _SYN | _ACK),  # and #(SYN|ACK)
        (0x15, 0, 1, _SYN),  # jeq #SYN, drop, pass
        (0x06, 0, 0, 0),  # drop: ret #0
        (0x06, 0, 0, 0xFFFFFFFF),  # pass: ret #-1 (the whole segment)
    ]
    return b"".join(struct.pack("HBBI", *i) for i in instructions)


_PROGRAM = _drop_new_handshakes_program()


def refuse_new_connections(sock: socket.socket) -> bool:
    """Stops the kernel from starting handshakes on `sock`; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    program = ctypes.create_string_buffer(_PROGRAM)
    fprog = struct.pack("HL", len(_PROGRAM) // 8, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        logger.warning("cannot hold off new connections", extra={"error": str(exc)})
        return False
    return True


def accept_queue_length(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_UNACKED + 4)
    length: int = struct.unpack_from("I", info, _TCP_INFO_UNACKED)[0]
    return length


async def drain_accept_queue(sock: socket.socket, within: float) -> int:
    """After refuse_new_connections: waits until the event loop has accepted every queued
    connection (and any handshake under way has had its round trip). Returns the queue length
    left after `within` seconds, 0 when drained."""
    await asyncio.sleep(HANDSHAKE_GRACE_SECONDS)
    queued = accept_queue_length(sock)
    for _ in range(math.ceil(within / _POLL_SECONDS)):
        if not queued:
            break
        await asyncio.sleep(_POLL_SECONDS)  # kernel state: there is no event to wait on
        queued = accept_queue_length(sock)
    return queued
