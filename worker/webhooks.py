"""The webhook delivery loop: runs inside the worker process, beside the Temporal workers.

Durable and at-least-once: deliveries are rows of the outbox (store/webhooks.py), written in the
transaction of the change they report. A loop claims due rows with FOR UPDATE SKIP LOCKED and a
lease, so any number of workers share the work, and a worker killed mid-delivery leaves a lease
that lapses: another loop (or the same worker restarted) retakes the delivery. The `webhook-id`
is the event's, so a receiver that got the first copy can tell the second is the same event.

Why a loop over PostgreSQL rather than a Temporal workflow per endpoint: the events come from
rows written in the same transaction as the state they report (no workflow code changes, no
event lost between a commit and a signal), the order per onboarding is one SQL condition, and a
delivery's log is the same row the API reads.

Order: an endpoint receives one onboarding's events one at a time, in the order they were
written; the next waits until the previous one is delivered or given up. Different onboardings
are independent, so one slow event holds up nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr

import httpx

from activities.email import EmailActivities, SmtpConfig, build_message
from core import outbound, webhooks
from core.settings import Settings
from domain.email import Email
from email_templates import Renderer
from store import webhooks as store
from store.pool import Pool

log = logging.getLogger(__name__)


def envelope(delivery: store.Claimed) -> dict[str, object]:
    """The body, as the specification recommends: type, timestamp, and the event's data."""
    return {
        "type": delivery.event_type,
        "timestamp": delivery.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": delivery.payload,
    }


def _disabled_email(endpoint: store.DisabledEndpoint) -> Email:
    # Written here, in English, rather than as a template in four languages: it goes to the
    # partner's own administrators, who read the API's English documentation.
    return Email(
        subject="Webhook endpoint disabled",
        text=(
            "One of your webhook endpoints has been disabled because every delivery to it "
            "failed for several days.\n\n"
            f"Endpoint: {endpoint.id}\nURL: {endpoint.url}\n"
            f"Reason: {endpoint.disabled_reason or 'repeated failures'}\n\n"
            "Its undelivered events are kept. Fix the receiver, then enable the endpoint again "
            f"(POST /v1/webhooks/{endpoint.id}/enable): they are delivered in order.\n"
        ),
    )


class DeliveryLoop:
    def __init__(
        self,
        pool: Pool,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        email: EmailActivities | None = None,
    ) -> None:
        if settings.webhook_lease_seconds <= settings.webhook_timeout_seconds:
            raise ValueError(
                "ONBOARDING_WEBHOOK_LEASE_SECONDS must be longer than "
                "ONBOARDING_WEBHOOK_TIMEOUT_SECONDS: a delivery in flight would be sent twice"
            )
        self.pool = pool
        self.http = http
        self.policy = outbound.OutboundPolicy.from_settings(settings)
        self.settings = settings
        self.email = email or EmailActivities(
            pool,
            SmtpConfig.from_settings(settings),
            Renderer(fallback_language=settings.email_fallback_language),
        )

    async def run_once(self) -> int:
        """Claim the due deliveries and send them side by side; how many were claimed."""
        claimed = await self._claim(self.settings.webhook_batch_size)
        if claimed:
            await asyncio.gather(*(self.deliver(d) for d in claimed))
        return len(claimed)

    async def _claim(self, limit: int) -> list[store.Claimed]:
        claimed = await store.claim(
            self.pool, limit=limit, lease=timedelta(seconds=self.settings.webhook_lease_seconds)
        )
        await store.notify_disabled(self.pool, send=self._tell_administrators)
        return claimed

    async def run(self) -> None:
        """Deliver until cancelled, up to webhook_batch_size at once. A failing pass (PostgreSQL
        away) is logged and retried.

        A freed slot is refilled at once rather than after the whole batch: waiting for every
        delivery of a batch held each healthy endpoint behind the slowest one claimed with it
        (1,000 endpoints, 2% answering in 1-2 s: 50 deliveries a second for two workers).
        """
        s = self.settings
        # Refilled by a quarter of the batch at least: a claim per freed slot would run the
        # claim query (a scan of the due rows) for every single delivery.
        refill = max(1, s.webhook_batch_size // 4)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                free = s.webhook_batch_size - len(in_flight)
                claimed: list[store.Claimed] = []
                if free >= refill:
                    try:
                        claimed = await self._claim(free)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # keep delivering once the cause is gone
                        log.warning("webhook pass failed", extra={"error_type": type(exc).__name__})
                for delivery in claimed:
                    task = asyncio.create_task(self._deliver_logged(delivery))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if claimed and len(claimed) == free:
                    continue  # more may be due: claim again
                if in_flight:
                    # Nothing more due, or too few slots free: until one delivery ends, or the poll.
                    await asyncio.wait(
                        in_flight, timeout=s.webhook_poll_seconds, return_when=FIRST_COMPLETED
                    )
                else:
                    await asyncio.sleep(s.webhook_poll_seconds)
        finally:
            for task in in_flight:
                task.cancel()
            # A cancelled attempt keeps its lease: the next loop retakes it once it lapses.
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _deliver_logged(self, delivery: store.Claimed) -> None:
        try:
            await self.deliver(delivery)
        except Exception as exc:  # its outcome unrecorded: the lease lapses and it is retaken
            log.warning("webhook delivery failed", extra={"error_type": type(exc).__name__})

    async def deliver(self, delivery: store.Claimed) -> None:
        """One attempt: signed POST, outcome recorded, retry scheduled or given up."""
        s = self.settings
        payload = envelope(delivery)
        # httpx encodes `json=` itself: the signature must cover the very bytes it sends, so
        # they are taken from a request httpx builds the same way.
        body = httpx.Request("POST", "http://body.invalid/", json=payload).content
        signed = webhooks.headers(
            delivery.secrets, event_id=delivery.event_id, timestamp=int(time.time()), body=body
        )
        started = time.monotonic()
        status_code: int | None = None
        try:
            # httpx's timeout is per phase (a receiver dripping bytes never trips it): the whole
            # attempt gets one deadline too, shorter than the lease, so no other loop retakes a
            # delivery that is still in flight here.
            async with asyncio.timeout(s.webhook_timeout_seconds):
                response = await outbound.request(
                    self.http,
                    self.policy,
                    "POST",
                    delivery.url,
                    json=payload,
                    headers={**signed, "User-Agent": "onboarding-webhooks/1"},
                    timeout=s.webhook_timeout_seconds,
                )
            status_code = response.status_code
            # The receiver's body is never read into our log: it is theirs, and may quote data.
            error = None if 200 <= status_code < 300 else f"the endpoint answered {status_code}"
        except outbound.OutboundRefused as exc:
            error = f"refused by the outbound URL policy: {exc.reason}"
        except outbound.OutboundUnresolvable:
            error = "the endpoint's host does not resolve"
        except (httpx.TimeoutException, TimeoutError):
            error = "the endpoint did not answer in time"
        except httpx.HTTPError as exc:
            error = f"could not reach the endpoint ({type(exc).__name__})"
        latency_ms = round((time.monotonic() - started) * 1000)
        if error is None:
            assert status_code is not None
            await store.record_success(
                self.pool, delivery=delivery, status_code=status_code, latency_ms=latency_ms
            )
            log.info(
                "webhook delivered",
                extra={"event_type": delivery.event_type, "attempt": delivery.attempt},
            )
            return
        retry_at: datetime | None = datetime.now(UTC) + webhooks.backoff(
            delivery.attempt,
            base_seconds=s.webhook_backoff_base_seconds,
            max_seconds=s.webhook_backoff_max_seconds,
        )
        window_end = delivery.window_started_at + timedelta(hours=s.webhook_retry_window_hours)
        if retry_at is not None and retry_at > window_end:
            retry_at = None  # the next try would fall past the retry window: given up
        disabled = await store.record_failure(
            self.pool,
            delivery=delivery,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
            retry_at=retry_at,
            disable_after=timedelta(hours=s.webhook_disable_after_hours),
        )
        log.warning(
            "webhook attempt failed",
            extra={
                "event_type": delivery.event_type,
                "attempt": delivery.attempt,
                "status_code": status_code,
                "given_up": retry_at is None,
                "endpoint_disabled": disabled,
            },
        )

    async def _tell_administrators(self, endpoint: store.DisabledEndpoint) -> None:
        email = _disabled_email(endpoint)
        domain = parseaddr(self.email.smtp.mail_from)[1].rpartition("@")[2] or "localhost"
        for number, address in enumerate(endpoint.administrators, start=1):
            message = build_message(
                email,
                mail_from=self.email.smtp.mail_from,
                recipient=address,
                message_id=f"<webhook-disabled.{endpoint.id}.{number}@{domain}>",
            )
            # The SMTP sending of every other e-mail (connection, TLS, credentials).
            await self.email._deliver(message)  # reused, not duplicated
        log.warning("webhook endpoint disabled", extra={"endpoint_id": str(endpoint.id)})


@asynccontextmanager
async def delivering(
    pool: Pool, http: httpx.AsyncClient, settings: Settings
) -> AsyncIterator[DeliveryLoop]:
    """Run the delivery loop in the background for the block's duration."""
    loop = DeliveryLoop(pool, http, settings)
    task = asyncio.create_task(loop.run(), name="webhook-delivery")
    try:
        yield loop
    finally:
        task.cancel()
        # A cancelled attempt keeps its lease: the next loop retakes it once the lease lapses.
        with contextlib.suppress(asyncio.CancelledError):
            await task
