"""Sending e-mail through SMTP, exactly once per (onboarding, purpose, sequence)."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from enum import StrEnum

import aiosmtplib
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core import metrics
from core.mail import SmtpConfig as SmtpConfig  # where the worker and the tests take it from
from core.settings import SmtpSecurity
from domain.email import Email
from domain.error_types import ErrorType
from email_templates import Renderer
from store import clients, email_log
from store.pool import Pool


class SendOutcome(StrEnum):
    sent = "sent"
    already_sent = "already_sent"
    suppressed = "suppressed"
    bounced = "bounced"


class SendEmailResult(BaseModel):
    outcome: SendOutcome
    message_id: str
    attempt: int
    error: str | None = None


def message_id_for(onboarding_id: uuid.UUID, purpose: str, sequence: int, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "onboarding.localhost"
    return f"<{purpose}.{sequence}.{onboarding_id}@{domain}>"


def build_message(email: Email, *, mail_from: str, recipient: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = recipient
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    return message


_ENHANCED_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})(?!\S)")


def smtp_reason(what: str, code: int, text: str) -> str:
    """`what (SMTP 550 5.1.1)`: the reply code and RFC 3463 enhanced status, none of the text."""
    enhanced = _ENHANCED_STATUS.match(text or "")
    codes = f"{code} {enhanced.group(1)}" if enhanced else str(code)
    return f"{what} (SMTP {codes})"


class EmailActivities:
    def __init__(self, pool: Pool, smtp: SmtpConfig, renderer: Renderer) -> None:
        self.pool = pool
        self.smtp = smtp
        self.renderer = renderer

    async def _deliver(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.smtp.host,
            port=self.smtp.port,
            use_tls=self.smtp.security == SmtpSecurity.tls,
            start_tls=self.smtp.security == SmtpSecurity.starttls,
            username=self.smtp.username,
            password=self.smtp.password,
            timeout=self.smtp.timeout,
        )

    async def deliver_once(
        self,
        *,
        onboarding_id: uuid.UUID,
        purpose: str,
        sequence: int,
        recipient: str,
        email: Email,
        client_id: uuid.UUID | None,
        reply_to: str | None = None,
        sender_name: str | None = None,
    ) -> SendEmailResult:
        """Send a rendered e-mail at most once per (onboarding, purpose, sequence).

        A client-facing e-mail (client_id given) is recorded as suppressed while the client's
        notifications are muted: never sent, never lost.
        """
        attempt = activity.info().attempt
        message_id = message_id_for(onboarding_id, purpose, sequence, self.smtp.mail_from)
        muted = False
        if client_id is not None:
            client = await clients.get(self.pool, client_id=client_id)
            muted = client is None or client.notifications_muted
        row = await email_log.reserve(
            self.pool,
            onboarding_id=onboarding_id,
            purpose=purpose,
            sequence=sequence,
            recipient=recipient,
            subject=email.subject,
            message_id=message_id,
            status="suppressed" if muted else "pending",
        )
        # The log row is written before the SMTP call and updated after it: a retry that finds
        # 'sent' knows the server already accepted this message and must not send it again.
        if row.status == "sent":
            return SendEmailResult(
                outcome=SendOutcome.already_sent, message_id=row.message_id, attempt=attempt
            )
        if row.status == "suppressed" and row.attempts == 1:
            metrics.email_outcome("suppressed")  # counted once: by the call that recorded it
        if row.status in ("suppressed", "bounced"):
            return SendEmailResult(
                outcome=SendOutcome(row.status),
                message_id=row.message_id,
                attempt=attempt,
                error=row.last_error,
            )
        mail_from = self.smtp.mail_from
        if sender_name:
            mail_from = formataddr((sender_name, parseaddr(mail_from)[1]))
        message = build_message(
            email, mail_from=mail_from, recipient=row.recipient, message_id=row.message_id
        )
        if reply_to:
            message["Reply-To"] = reply_to
        key = (onboarding_id, purpose, sequence)
        # The server's reply text is never kept: it quotes the recipient's address (often the
        # name too), and it would reach the log, the e-mail log, the status and the workflow's
        # failure. Codes (reply and enhanced status) and our own words say what happened.
        try:
            await self._deliver(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code, text = (refusal.code, refusal.message) if refusal else (0, "")
            if 500 <= code < 600:
                reason = smtp_reason("the recipient's mail server refused the address", code, text)
                return await self._bounced(key, row.message_id, attempt, reason)
            raise self._deferred(code, text) from None
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the server's final word (unknown mailbox, policy): retrying cannot help.
            # 4xx and connection failures are raised and retried with backoff.
            if 500 <= exc.code < 600:
                reason = smtp_reason("the mail server refused the message", exc.code, exc.message)
                return await self._bounced(key, row.message_id, attempt, reason)
            raise self._deferred(exc.code, exc.message) from None
        except aiosmtplib.SMTPException as exc:
            # Connection refused, timeout, TLS: nothing personal in them, but not our words.
            raise ApplicationError(
                f"could not talk to the mail server {self.smtp.host}:{self.smtp.port} "
                f"({type(exc).__name__})",
                type=ErrorType.SmtpUnavailable,
            ) from None
        await email_log.mark(
            self.pool,
            onboarding_id=onboarding_id,
            purpose=purpose,
            sequence=sequence,
            status="sent",
        )
        metrics.email_outcome("sent")
        activity.logger.info("e-mail sent", extra={"purpose": purpose, "seq": sequence})
        return SendEmailResult(outcome=SendOutcome.sent, message_id=row.message_id, attempt=attempt)

    def _deferred(self, code: int, text: str) -> ApplicationError:
        # Retryable: the workflow's SMTP policy backs off and tries again.
        return ApplicationError(
            smtp_reason("the mail server deferred the message", code, text),
            type=ErrorType.SmtpDeferred,
        )

    async def _bounced(
        self, key: tuple[uuid.UUID, str, int], message_id: str, attempt: int, error: str
    ) -> SendEmailResult:
        onboarding_id, purpose, sequence = key
        await email_log.mark(
            self.pool,
            onboarding_id=onboarding_id,
            purpose=purpose,
            sequence=sequence,
            status="bounced",
            error=error,
        )
        metrics.email_outcome("bounced")
        activity.logger.warning("e-mail bounced", extra={"purpose": purpose, "error": error})
        return SendEmailResult(
            outcome=SendOutcome.bounced, message_id=message_id, attempt=attempt, error=error
        )
