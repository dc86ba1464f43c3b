"""A real SMTP server (aiosmtpd) that keeps every message: as .eml files in dev, in memory in tests.

Tests can make it answer like a troubled server: temporary (4xx) or permanent (5xx) refusals.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SinkHandler:
    directory: Path | None = None
    messages: list[Received] = field(default_factory=list)
    # Replies to give instead of accepting DATA, consumed one per message ("451 Try later").
    scripted_replies: list[str] = field(default_factory=list)
    # Recipients refused with this reply at RCPT time (e.g. "550 5.1.1 No such user").
    refused_recipients: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self._lock:
            if self.scripted_replies:
                return self.scripted_replies.pop(0)
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        received = Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw)
        with self._lock:
            self.messages.append(received)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            # One clock reading for both parts: two readings could straddle a second and name a
            # later message before an earlier one (the mail command lists by name).
            now = time.time_ns()
            stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now // 10**9))
            name = f"{stamp}-{now % 10**9:09d}.eml"
            (self.directory / name).write_bytes(raw)
            log.info("mail received", extra={"file": name, "to": ",".join(received.rcpt_tos)})
        return "250 Message accepted"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.scripted_replies.clear()
            self.refused_recipients.clear()

    async def arrived(self, count: int, *, within: float = 20.0) -> list[Received]:
        """Wait without blocking the event loop (the worker may share it) for `count` messages."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            await asyncio.sleep(0.05)
        raise TimeoutError(f"expected {count} message(s), got {len(self.messages)}")

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise TimeoutError(f"expected {count} message(s), got {len(self.messages)}")


class SmtpSink:
    """aiosmtpd in a background thread, listening on 127.0.0.1."""

    def __init__(
        self, *, port: int, directory: Path | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.handler = SinkHandler(directory=directory)
        self.host = host
        self.port = port
        self._controller = Controller(self.handler, hostname=host, port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
