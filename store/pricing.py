"""A firm's special rates, and the record of who confirmed the firm pays at the prices shown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.money import Currency, Price
from domain.pricing import RateKey
from store.pool import Conn, Pool


@dataclass(frozen=True)
class RateRow:
    plan: str
    add_on: str | None
    price: Price
    set_at: datetime


@dataclass(frozen=True)
class Acknowledgement:
    """A confirmation to record: who, of which firm, and the monthly cost they were shown (None:
    unpriced)."""

    partner_id: uuid.UUID
    user_id: uuid.UUID
    monthly_cents: int | None
    currency: Currency = Currency.EUR


@dataclass(frozen=True)
class AcknowledgementRow:
    subject: str
    subject_id: uuid.UUID | None
    subject_version: int | None
    acknowledged_by: uuid.UUID
    acknowledged_at: datetime
    monthly_cents: int | None
    currency: str | None


async def rates(pool: Pool | Conn, *, partner_id: uuid.UUID) -> list[RateRow]:
    """The firm's rates, by plan then add-on (the plan's own first); a firm has tens at most."""
    records = await pool.fetch(
        """
        SELECT plan, add_on, monthly_cents, annual_cents, currency, set_at FROM partner_rates
        WHERE partner_id = $1 ORDER BY plan, add_on
        """,
        partner_id,
    )
    return [
        RateRow(
            plan=r["plan"],
            add_on=r["add_on"] or None,
            price=Price(
                monthly_cents=r["monthly_cents"],
                annual_cents=r["annual_cents"],
                currency=Currency(r["currency"]),
            ),
            set_at=r["set_at"],
        )
        for r in records
    ]


async def rate_map(pool: Pool | Conn, *, partner_id: uuid.UUID) -> dict[RateKey, Price]:
    return {(r.plan, r.add_on): r.price for r in await rates(pool, partner_id=partner_id)}


async def set_rate(
    pool: Pool, *, partner_id: uuid.UUID, plan: str, add_on: str | None, price: Price
) -> None:
    await pool.execute(
        """
        INSERT INTO partner_rates (partner_id, plan, add_on, monthly_cents, annual_cents, currency)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (partner_id, plan, add_on) DO UPDATE
        SET monthly_cents = excluded.monthly_cents, annual_cents = excluded.annual_cents,
            currency = excluded.currency, set_at = now()
        """,
        partner_id,
        plan,
        add_on or "",
        price.monthly_cents,
        price.annual_cents,
        price.currency.value,
    )


async def clear_rate(pool: Pool, *, partner_id: uuid.UUID, plan: str, add_on: str | None) -> bool:
    """False when there was no such rate."""
    status = await pool.execute(
        "DELETE FROM partner_rates WHERE partner_id = $1 AND plan = $2 AND add_on = $3",
        partner_id,
        plan,
        add_on or "",
    )
    return str(status).endswith(" 1")


async def record_acknowledgement(
    conn: Pool | Conn,
    *,
    subject: str,
    subject_id: uuid.UUID | None,
    subject_version: int | None,
    acknowledgement: Acknowledgement,
) -> None:
    """Record a confirmation; called inside the transaction that saves what was confirmed, so
    one is never without the other. A retried onboarding start records nothing new."""
    await conn.execute(
        """
        INSERT INTO pricing_acknowledgements
            (partner_id, subject, subject_id, subject_version, acknowledged_by, monthly_cents,
             currency)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (subject_id) WHERE subject = 'onboarding' DO NOTHING
        """,
        acknowledgement.partner_id,
        subject,
        subject_id,
        subject_version,
        acknowledgement.user_id,
        acknowledgement.monthly_cents,
        acknowledgement.currency.value if acknowledgement.monthly_cents is not None else None,
    )


async def acknowledgements(
    pool: Pool, *, partner_id: uuid.UUID, subject: str, subject_id: uuid.UUID | None
) -> list[AcknowledgementRow]:
    """Every confirmation recorded for one template, client, onboarding or the billing
    defaults, oldest first."""
    records = await pool.fetch(
        """
        SELECT subject, subject_id, subject_version, acknowledged_by, acknowledged_at,
               monthly_cents, currency
        FROM pricing_acknowledgements
        WHERE partner_id = $1 AND subject = $2 AND subject_id IS NOT DISTINCT FROM $3
        ORDER BY id
        """,
        partner_id,
        subject,
        subject_id,
    )
    return [AcknowledgementRow(**dict(r)) for r in records]
