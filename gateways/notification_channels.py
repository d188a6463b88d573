"""How notifications leave the system: the channel port, e-mail over SMTP, and a log channel.

Delivery is at least once: an activity that crashes after sending but before recording
the send sends again. ``message_id`` is the notification's id and becomes the e-mail's
Message-ID, so a receiver (or a mail client's thread view) can drop the duplicate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

import aiosmtplib

from config.settings import NotificationSettings

__all__ = [
    "ChannelUnavailableError",
    "DeliveryRefusedError",
    "LogChannel",
    "NotificationChannel",
    "SmtpChannel",
    "build_channel",
    "message_id_header",
]

log = logging.getLogger(__name__)


class ChannelUnavailableError(Exception):
    """The channel could not take the message now (server down, timeout): retry later."""


class DeliveryRefusedError(Exception):
    """The channel refused the message for good (e.g. the address does not exist)."""


class NotificationChannel(Protocol):
    @property
    def name(self) -> str:
        """Recorded with the notification and on NotificationSent (``"email"``, ``"log"``)."""
        ...

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        """Deliver one message; raise ChannelUnavailableError or DeliveryRefusedError."""
        ...


def message_id_header(message_id: str, sender: str) -> str:
    """RFC 5322 Message-ID for ``message_id``: ``<id@sender's domain>``."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{message_id}@{domain}>"


class SmtpChannel:
    """E-mail through an SMTP relay (STARTTLS when the server offers it)."""

    def __init__(self, *, host: str, port: int, sender: str, timeout_seconds: float) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout_seconds

    @property
    def name(self) -> str:
        return "email"

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = message_id_header(message_id, self._sender)
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message, hostname=self._host, port=self._port, timeout=self._timeout
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Permanent (5xx) for every recipient: sending again cannot help.
            if all(500 <= error.code < 600 for error in exc.recipients):
                raise DeliveryRefusedError(f"{to} refused: {exc}") from exc
            raise ChannelUnavailableError(f"SMTP deferred {to}: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise ChannelUnavailableError(
                f"SMTP {self._host}:{self._port} unavailable: {exc}"
            ) from exc


class LogChannel:
    """Writes the message to the log: the zero-setup dev channel."""

    @property
    def name(self) -> str:
        return "log"

    async def send(self, message_id: str, to: str, subject: str, body: str) -> None:
        log.info("notification %s to %s: %s\n%s", message_id, to, subject, body)


def build_channel(settings: NotificationSettings) -> NotificationChannel:
    if settings.channel == "smtp":
        return SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    return LogChannel()
