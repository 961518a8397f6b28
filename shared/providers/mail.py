"""Outgoing mail: one message to one recipient through the configured SMTP server.

Invariants: a message goes to exactly one address, and a recipient or subject carrying CR, LF
or NUL is refused (`AppError` INVALID) before any connection is opened, so callers cannot
inject headers or extra recipients. The body is never logged, because it carries one-time
sign-in codes; logs name the recipient's domain at most. Every transport failure (refused
connection, timeout, TLS, SMTP reply) surfaces as `AppError` UNAVAILABLE with the cause
chained, so a caller handles one error. Production and the local sink differ only in settings
(`RELAY_SMTP_*`); STARTTLS uses the system trust store and login happens only when a username
is configured.
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
from email.message import EmailMessage

from shared.engine.errors import AppError, ErrorKind
from shared.engine.settings import get_settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


def send(*, to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message to `to`; raises AppError INVALID or UNAVAILABLE."""
    address = _recipient(to)
    if any(char in subject for char in _FORBIDDEN_IN_HEADERS):
        raise AppError(ErrorKind.INVALID, "subject must be a single line")
    settings = get_settings()
    message = _compose(sender=settings.mail_from, to=address, subject=subject, text=text, html=html)
    domain = address.rpartition("@")[2]
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(message, to_addrs=[address])
    except OSError as exc:  # smtplib.SMTPException and ssl.SSLError are OSErrors
        log.warning("mail to a recipient at %s failed: %s", domain, type(exc).__name__)
        raise AppError(ErrorKind.UNAVAILABLE, "mail delivery unavailable") from exc
    log.info("mail sent to a recipient at %s", domain)


def _recipient(to: str) -> str:
    if any(char in to for char in _FORBIDDEN_IN_HEADERS):
        raise AppError(ErrorKind.INVALID, "recipient must be a single address")
    addresses = email.utils.getaddresses([to])
    if len(addresses) != 1:
        raise AppError(ErrorKind.INVALID, "recipient must be a single address")
    address = addresses[0][1]
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(char.isspace() for char in address):
        raise AppError(ErrorKind.INVALID, "recipient is not an email address")
    return address


def _compose(*, sender: str, to: str, subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    # An explicit domain keeps make_msgid from resolving this host's FQDN on every send.
    sender_domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "relay.invalid"
    message["Message-ID"] = email.utils.make_msgid(domain=sender_domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message
