"""The FastAPI application and its lifespan: pool and Temporal client, made once, closed at exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from temporalio.client import Client

import api.console.client_prices  # noqa: F401  # registers the client page's cost section
from api import console, docs, metrics, problem_handlers, problems
from api.body_limit import BodyLimit
from api.console import attention as console_attention
from api.console import branding as console_branding
from api.console import checklists as console_checklists
from api.console import client_actions as console_actions
from api.console import client_checklist as console_client_checklist
from api.console import client_export as console_client_export
from api.console import client_integrations as console_integrations
from api.console import client_records as console_client_records
from api.console import client_settings as console_settings
from api.console import imports as console_imports
from api.console import new_client
from api.console import notification_defaults as console_notification_defaults
from api.console import settings as console_firm_settings
from api.console import webhooks as console_webhooks
from api.deps import Services
from api.routers import (
    catalogs,
    checklists,
    client_checklists,
    client_integrations,
    client_records,
    clients,
    codec,
    company_lookups,
    fiscal_years,
    health,
    imports,
    invitation_page,
    invitations,
    notification_defaults,
    onboardings,
    templates,
    users,
    webhooks,
)
from api.trusted_hosts import TrustedHosts
from core import namespace, temporal, tracing
from core.settings import Settings
from store.pool import create_pool

log = logging.getLogger(__name__)


async def _check_namespace(client: Client) -> None:
    """Log and count, at start, each search attribute the namespace lacks: /healthz then refuses
    readiness until it is added. Temporal may still be coming up: /healthz checks again."""
    try:
        await asyncio.wait_for(namespace.check(client, process="api"), 10)
    except Exception as exc:
        log.warning(
            "temporal namespace not checked at start; /healthz checks it",
            extra={"error": type(exc).__name__},
        )


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app; tests pass ready `services`, else the lifespan creates and closes them.

    Spans go to `tracer_provider` (tests pass one with their services); without services, to
    the one the settings configure, if any (core/tracing.py), flushed when the app stops.
    """
    owned_provider = (
        tracing.tracer_provider(settings, service=tracing.API_SERVICE)
        if services is None and tracer_provider is None
        else None
    )
    tracer_provider = tracer_provider or owned_provider

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            try:
                yield
            finally:
                # The services are the caller's, but the reading processes this app started
                # on them are its own: no process outlives the app that made it.
                await services.close_import_readers()
            return
        pool = await create_pool(
            settings.require_database_url(),
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
        )
        client = await temporal.connect(settings, lazy=True, tracer_provider=tracer_provider)
        app.state.services = Services(settings=settings, pool=pool, temporal=client)
        await _check_namespace(client)
        log.info("api ready")
        try:
            yield
        finally:
            await app.state.services.aclose()
            await pool.close()
            if owned_provider is not None:
                await asyncio.to_thread(owned_provider.shutdown)  # blocks while it flushes

    app = FastAPI(
        title="Client onboarding API",
        version="0.1.0",
        description="Durable client onboarding for partner platforms, on Temporal.",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN: api/docs.py serves its own.
        docs_url=None,
        redoc_url=None,
    )
    problem_handlers.install(app)
    problems.document_problems(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api_max_body_bytes,
        max_upload_bytes=settings.upload_limit(),
    )
    app.add_middleware(console.OldClientLinks)  # old staff e-mail links -> the console
    # Outside BodyLimit: a request for a host we do not serve is refused before anything else.
    app.add_middleware(TrustedHosts, hosts=settings.served_hosts())
    # Added last, so outermost: it times and counts every answer, BodyLimit's 413s included.
    app.add_middleware(metrics.RequestMetrics)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    if tracer_provider is not None:
        # Spans are named by route template (`/v1/invitations/{token}`), never by path; the
        # URL attributes are redacted on export (core/tracing.py). The per-chunk send/receive
        # spans add nothing to a request's story.
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracer_provider,
            excluded_urls=tracing.UNTRACED_URLS,
            exclude_spans=["receive", "send"],
        )
    if settings.serves_docs():
        app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(onboardings.router)
    app.include_router(imports.router)
    app.include_router(invitations.router)
    app.include_router(invitation_page.router)
    app.include_router(clients.router)
    app.include_router(client_records.router)  # /v1/clients/{id}/company, national-numbers...
    app.include_router(fiscal_years.router)
    app.include_router(templates.router)
    app.include_router(catalogs.router)
    app.include_router(checklists.router)
    app.include_router(users.router)
    app.include_router(codec.router)
    app.include_router(webhooks.router)
    app.include_router(company_lookups.router)
    app.include_router(client_checklists.router)
    app.include_router(notification_defaults.router)
    app.include_router(new_client.router)  # before /console/clients/{id}: its /new is a page
    app.include_router(console.router)  # the firm's console: /, /console/...
    app.include_router(console_actions.router)  # the client page's forms
    app.include_router(console_attention.router)  # the needs-attention page
    app.include_router(console_settings.router)  # the client page's settings after day one
    app.include_router(console_branding.router)  # settings: branding with its preview
    app.include_router(console_webhooks.router)  # settings: webhooks and their deliveries
    app.include_router(console_checklists.router)  # settings: the checklist catalogue
    app.include_router(console_imports.router)  # the imports page
    app.include_router(console_client_export.router)  # the clients list as CSV
    app.include_router(console_client_records.router)  # company record, national numbers, docs
    app.include_router(
        console_firm_settings.router
    )  # settings: templates, billing, users, API keys
    app.include_router(console_client_checklist.router)  # the client page's checklist part
    app.include_router(console_notification_defaults.router)  # settings: new clients' mute
    app.include_router(client_integrations.router)  # a client's apps after onboarding
    app.include_router(console_integrations.router)  # the client page's integrations
    return app
