"""Read one HTTP request's head from a test server's accepted connection."""

from __future__ import annotations

import socket


def read_head(conn: socket.socket) -> bytes:
    """Bytes received until the blank line ending the request head (``\\r\\n\\r\\n``), or until
    the peer closes; the caller's socket timeout bounds the wait."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
