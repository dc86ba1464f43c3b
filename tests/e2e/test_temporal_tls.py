"""Connecting to a production Temporal: TLS, mTLS and the refused settings.

The dev server speaks plaintext gRPC only, so a TLS-terminating proxy stands in front of it, as
an ingress or Temporal's own TLS listener would: it requires a client certificate signed by the
test's CA, offers ALPN h2 like a gRPC server, and pipes the decrypted bytes to the dev server.
Every certificate is made here; nothing is mocked between `core.temporal.connect` and Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from activities.registry import RegistryConfig, build_registry_client
from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Settings
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from domain.onboarding import workflow_id_for
from store.pool import Pool
from tests.e2e.helpers import wait_status
from tests.factories import Tenant
from worker.main import build_workers, running

ACCEPT = re.compile(r"(/v1/invitations/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")
WORKER_NAME = "onboarding-worker"


@pytest.fixture(autouse=True)
def _no_ambient_temporal_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's own ONBOARDING_TEMPORAL_* variables must not leak into these Settings."""
    for name in list(os.environ):
        if name.startswith("ONBOARDING_TEMPORAL"):
            monkeypatch.delenv(name)
    yield


@dataclass(frozen=True)
class Pki:
    """PEM files of a CA, the proxy's server certificate and the worker's client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_key: Path  # a valid key that belongs to no certificate here


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    usage: x509.ObjectIdentifier | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """A CA when `issuer` is None, else a leaf it signs; the extensions rustls' webpki and
    OpenSSL check (constraints, usages, key identifiers)."""
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer_cert.subject if signer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("Onboarding test CA", ca_key)
    server_key, client_key = _key(), _key()
    server = _certificate(
        "temporal",
        server_key,
        issuer=(ca, ca_key),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client = _certificate(
        WORKER_NAME, client_key, issuer=(ca, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    return Pki(
        ca=_write_cert(root / "ca.pem", ca),
        server_cert=_write_cert(root / "server.pem", server),
        server_key=_write_key(root / "server-key.pem", server_key),
        client_cert=_write_cert(root / "client.pem", client),
        client_key=_write_key(root / "client-key.pem", client_key),
        stranger_key=_write_key(root / "stranger-key.pem", _key()),
    )


@dataclass
class TlsProxy:
    """TLS (client certificate required) on 127.0.0.1, plaintext to `upstream`."""

    upstream: tuple[str, int]
    context: ssl.SSLContext
    port: int = 0
    clients: list[str] = field(default_factory=list)  # CN of each accepted client certificate
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Called only once the handshake passed, so the client certificate was verified.
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            peer: Any = writer.get_extra_info("peercert")
            subject = dict(pair for rdn in peer["subject"] for pair in rdn) if peer else {}
            self.clients.append(subject.get("commonName", "(no certificate)"))
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            writer.close()
            self._tasks.discard(task)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TlsProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # the other side went away: closing below ends the pair
    finally:
        writer.close()


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(cafile=pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED  # mTLS: no certificate of our CA, no connection
    context.set_alpn_protocols(["h2"])  # what a gRPC server offers; tonic insists on it
    return context


@pytest.fixture
async def proxy(temporal_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[TlsProxy]:
    host, _, port = temporal_env.client.service_client.config.target_host.rpartition(":")
    async with TlsProxy((host, int(port)), _server_context(pki)).running() as running:
        yield running


def _through(settings: Settings, proxy: TlsProxy, **tls: object) -> Settings:
    """The test's settings, pointed at the proxy, with these Temporal TLS settings, validated
    as the environment's would be."""
    values = settings.model_dump()
    values.update(temporal_address=proxy.address, **tls)
    return Settings.model_validate(values)


def _mtls(pki: Pki) -> dict[str, object]:
    return {
        "temporal_tls_server_ca_file": pki.ca,
        "temporal_tls_client_cert_file": pki.client_cert,
        "temporal_tls_client_key_file": pki.client_key,
    }


async def test_onboarding_runs_through_mtls_proxy(
    settings: Settings,
    proxy: TlsProxy,
    pki: Pki,
    pool: Pool,
    tenant: Tenant,
    smtp_sink: SmtpSink,
) -> None:
    """Worker and API reach Temporal only through the mTLS proxy, and an onboarding goes from
    the POST to COMPLETED over it."""
    secured = _through(settings, proxy, **_mtls(pki))
    worker_client = await temporal.connect(secured)
    api_client = await temporal.connect(secured, lazy=True)  # as the API's lifespan does
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient())
        registry = build_registry_client(
            RegistryConfig.from_settings(secured), http=http, pool=pool
        )
        workers = build_workers(
            worker_client, pool=pool, settings=secured, http=http, registry=registry
        )
        await stack.enter_async_context(running(workers))
        app = create_app(
            secured, services=Services(settings=secured, pool=pool, temporal=api_client)
        )
        api = await stack.enter_async_context(serve_app(app, access_log=False))
        api.headers.update(tenant.auth)

        response = await api.post(
            "/v1/onboardings",
            json={
                "client": {
                    "first_name": "Léa",
                    "last_name": "Moreau",
                    "email": "lea@moreau.example",
                    "language": "fr",
                    "company_name": "Moreau & Fils",
                }
            },
            headers={"Idempotency-Key": f"tls-{uuid.uuid4()}"},
        )
        assert response.status_code == 202, response.text
        onboarding_id = response.json()["id"]
        [invitation] = await smtp_sink.handler.arrived(1)
        text = invitation.message.get_body(preferencelist=("plain",))
        assert text is not None
        accept = ACCEPT.search(text.get_content())
        assert accept, "the invitation carries its accept link"
        accepted = await api.post(f"{accept.group(1)}/accept")
        assert accepted.status_code == 200, accepted.text
        body = await wait_status(api, onboarding_id, "COMPLETED", "FAILED")
        assert body["status"] == "COMPLETED", body

    handle = worker_client.get_workflow_handle(workflow_id_for(uuid.UUID(onboarding_id)))
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    # Two clients, two connections at least, each through the proxy with the certificate: the
    # dev server's own address is in no setting these processes were given.
    assert len(proxy.clients) >= 2 and set(proxy.clients) == {WORKER_NAME}


async def test_connection_without_client_certificate_is_refused(
    settings: Settings, proxy: TlsProxy, pki: Pki
) -> None:
    """TLS with the right CA but no client certificate: the proxy ends the handshake and
    connect raises, with nothing forwarded."""
    anonymous = _through(settings, proxy, temporal_tls_server_ca_file=pki.ca)
    assert anonymous.temporal_tls_enabled()  # the CA alone switches TLS on
    with pytest.raises(RuntimeError):
        await temporal.connect(anonymous)
    assert proxy.clients == []


async def test_server_name_override_is_checked_against_certificate(
    settings: Settings, proxy: TlsProxy, pki: Pki
) -> None:
    """The server name is what the certificate must carry: `localhost` passes, a name the
    proxy's certificate does not hold is refused although the CA is trusted."""
    named = _through(settings, proxy, temporal_tls_server_name="localhost", **_mtls(pki))
    await temporal.ping(await temporal.connect(named))
    wrong = _through(settings, proxy, temporal_tls_server_name="temporal.example", **_mtls(pki))
    with pytest.raises(RuntimeError):
        await temporal.connect(wrong)
    assert proxy.clients == [WORKER_NAME]  # only the first one got through


async def test_plaintext_to_tls_proxy_is_refused(settings: Settings, proxy: TlsProxy) -> None:
    """Without TLS settings the client speaks plaintext, which a TLS endpoint refuses: TLS is
    really off by default, and on only through the settings."""
    plain = _through(settings, proxy)
    assert temporal.tls_config(plain) is False
    with pytest.raises(RuntimeError):
        await temporal.connect(plain)


API_KEY = "tmprl-test-not-a-real-key-4f1c9a"


def _refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(values)
    message = str(refused.value)
    assert API_KEY not in message
    return message


def test_client_certificate_and_key_come_together(pki: Pki) -> None:
    """A client certificate without its key, or a key without its certificate, is refused
    naming both settings."""
    for given in ("temporal_tls_client_cert_file", "temporal_tls_client_key_file"):
        message = _refusal(**{given: pki.client_cert})
        assert "ONBOARDING_TEMPORAL_TLS_CLIENT_CERT_FILE" in message
        assert "ONBOARDING_TEMPORAL_TLS_CLIENT_KEY_FILE" in message
        assert "mTLS needs both" in message


def test_missing_or_non_pem_files_are_refused(pki: Pki, tmp_path: Path) -> None:
    """A file that is not there, a certificate setting given a key and a key setting given a
    certificate each name their setting; the key's content never appears."""
    absent = tmp_path / "absent.pem"
    message = _refusal(temporal_tls_server_ca_file=absent)
    assert f"ONBOARDING_TEMPORAL_TLS_SERVER_CA_FILE: no file at {absent}" in message

    message = _refusal(temporal_tls_server_ca_file=pki.client_key)
    assert "ONBOARDING_TEMPORAL_TLS_SERVER_CA_FILE" in message
    assert "holds no PEM certificate" in message
    assert pki.client_key.read_text().splitlines()[1] not in message

    message = _refusal(
        temporal_tls_client_cert_file=pki.client_cert,
        temporal_tls_client_key_file=pki.client_cert,
    )
    assert "ONBOARDING_TEMPORAL_TLS_CLIENT_KEY_FILE" in message
    assert "holds no PEM private key" in message


def test_key_of_another_certificate_is_refused(pki: Pki) -> None:
    """A well-formed key that is not the certificate's is refused at start-up, not at the
    handshake."""
    message = _refusal(
        temporal_tls_client_cert_file=pki.client_cert,
        temporal_tls_client_key_file=pki.stranger_key,
    )
    assert "is not the key of the certificate in ONBOARDING_TEMPORAL_TLS_CLIENT_CERT_FILE" in (
        message
    )


def test_api_key_with_tls_off_is_refused_without_echoing_it() -> None:
    """An API key implies TLS; TLS explicitly off with one is refused, and the key is not in
    the error."""
    settings = Settings(temporal_api_key=API_KEY)
    assert settings.temporal_tls_enabled()
    assert isinstance(temporal.tls_config(settings), TLSConfig)
    message = _refusal(temporal_api_key=API_KEY, temporal_tls=False)
    assert "ONBOARDING_TEMPORAL_TLS=false contradicts ONBOARDING_TEMPORAL_API_KEY" in message


def test_plaintext_to_temporal_cloud_is_refused() -> None:
    """A *.tmprl.cloud address with TLS off, or with no credential at all, is refused; with an
    API key it is accepted over TLS."""
    cloud = "onboarding.a1b2c.tmprl.cloud:7233"
    message = _refusal(temporal_address=cloud, temporal_tls=False)
    assert "ONBOARDING_TEMPORAL_ADDRESS is a Temporal Cloud endpoint" in message
    assert "plaintext refused (remove ONBOARDING_TEMPORAL_TLS=false)" in message
    message = _refusal(temporal_address=cloud)
    assert "plaintext refused (set ONBOARDING_TEMPORAL_API_KEY or a client certificate)" in message
    message = _refusal(temporal_address="us-east-1.aws.api.temporal.io:7233", temporal_tls=True)
    assert "set ONBOARDING_TEMPORAL_API_KEY or a client certificate" in message
    accepted = Settings(temporal_address=cloud, temporal_api_key=API_KEY)
    assert accepted.temporal_tls_enabled()


def test_empty_environment_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """compose's `${VAR:-}` empty strings leave TLS as if unset, rather than failing as a bad
    boolean or a file named ''."""
    for name in ("TLS", "TLS_SERVER_CA_FILE", "TLS_CLIENT_CERT_FILE", "API_KEY"):
        monkeypatch.setenv(f"ONBOARDING_TEMPORAL_{name}", "")
    settings = Settings()
    assert settings.temporal_tls is None and settings.temporal_api_key is None
    assert temporal.tls_config(settings) is False


def test_worker_command_stops_at_start_with_our_words(pki: Pki) -> None:
    """`onboarding worker` with a key but no certificate exits before connecting, naming the
    settings, and the API key set beside it is nowhere in its output."""
    env = {
        **os.environ,
        "ONBOARDING_TEMPORAL_TLS_CLIENT_KEY_FILE": str(pki.client_key),
        "ONBOARDING_TEMPORAL_API_KEY": API_KEY,
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "onboarding"), "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    output = " ".join((done.stdout + done.stderr).split())  # typer's traceback wraps lines
    assert "ONBOARDING_TEMPORAL_TLS_CLIENT_KEY_FILE is set without" in output
    assert API_KEY not in output
