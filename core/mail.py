"""Sending one e-mail at once, outside any workflow (the console's sign-in links only).

Everything an onboarding sends goes through activities/email.py, recorded exactly once per
(onboarding, purpose, sequence). A sign-in link belongs to no onboarding and is worth nothing
once late: if it is lost the user asks again, so there is nothing to make durable.

`SmtpConfig` is the one SMTP configuration, for both: read from the settings by its
`from_settings`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from core.settings import Settings, SmtpSecurity
from domain.email import Email


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str | None
    password: str | None = field(repr=False)  # never in a log line or a test's failure
    timeout: float
    mail_from: str

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
            mail_from=settings.mail_from,
        )


async def send_now(
    smtp: SmtpConfig, *, recipient: str, email: Email, sender_name: str | None = None
) -> None:
    """Hand the message to the SMTP server; raises aiosmtplib's errors."""
    address = parseaddr(smtp.mail_from)[1]
    message = EmailMessage()
    message["From"] = formataddr((sender_name, address)) if sender_name else smtp.mail_from
    message["To"] = recipient
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    domain = address.rpartition("@")[2] or "onboarding.localhost"
    message["Message-ID"] = f"<sign-in.{secrets.token_hex(12)}@{domain}>"
    message.set_content(email.text)
    if email.html is not None:
        message.add_alternative(email.html, subtype="html")
    await aiosmtplib.send(
        message,
        hostname=smtp.host,
        port=smtp.port,
        use_tls=smtp.security == SmtpSecurity.tls,
        start_tls=smtp.security == SmtpSecurity.starttls,
        username=smtp.username,
        password=smtp.password,
        timeout=smtp.timeout,
    )
