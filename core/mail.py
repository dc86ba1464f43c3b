"""Sending one e-mail at once, outside any workflow (the console's sign-in links only).

Everything an onboarding sends goes through activities/email.py, recorded exactly once per
(onboarding, purpose, sequence). A sign-in link belongs to no onboarding and is worth nothing
once late: if it is lost the user asks again, so there is nothing to make durable.
"""

from __future__ import annotations

import secrets
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr

import aiosmtplib

from core.settings import Settings, SmtpSecurity
from domain.email import Email


async def send_now(
    settings: Settings, *, recipient: str, email: Email, sender_name: str | None = None
) -> None:
    """Hand the message to the SMTP server; raises aiosmtplib's errors."""
    address = parseaddr(settings.mail_from)[1]
    message = EmailMessage()
    message["From"] = formataddr((sender_name, address)) if sender_name else settings.mail_from
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
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        use_tls=settings.smtp_security == SmtpSecurity.tls,
        start_tls=settings.smtp_security == SmtpSecurity.starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
    )
