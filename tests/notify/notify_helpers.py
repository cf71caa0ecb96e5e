"""Helpers for the notification tests: endpoints to publish on, and the sequence frames."""

from __future__ import annotations

import socket
import struct


def free_endpoint() -> str:
    """A tcp endpoint on a port that was free a moment ago (our config cannot say port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def seq(n: int) -> bytes:
    """A message's sequence frame: its topic's count, u32 little-endian."""
    return struct.pack("<I", n)
