"""Free-port helpers for the dev stack and the test fixtures."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports. The sockets stay bound until all are chosen: one at a time,
    the kernel may hand the same just-released port out twice (seen: a stand-in given the port
    PostgreSQL then took)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def lasting_free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports below the kernel's ephemeral range, for servers that must get
    the same ports again after a restart: a port the kernel handed out (`free_ports`) may be
    taken meanwhile as the local port of any outgoing connection (seen: the registry stand-in
    could not bind its port again when the dev stack restarted beside another test run)."""
    low = _ephemeral_low()
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(10_000, low)  # noqa: S311 (a port, not a secret)
        if port not in chosen and not port_in_use(port, host):
            chosen.append(port)
    return chosen


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
