"""Payload encryption: the codec, its keys from settings, the data converter every client gets,
and key rotation against a real Temporal server and the Replayer."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from core import temporal
from core.codec import (
    DEV_KEY,
    DEV_KEY_ID,
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    parse_keys,
)
from core.settings import Environment, Settings
from tests.workflow_helpers import Fakes, make_input
from worker.main import WORKFLOW_RUNNER
from workflows.onboarding import OnboardingWorkflow

KEY_A = os.urandom(32)
KEY_B = os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def clear(value: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{value}"'.encode())


async def test_encrypted_payload_names_its_key_and_hides_the_data() -> None:
    """Encoding gives `binary/encrypted` with the key id, no clear text, a fresh nonce each time,
    and decoding gives the original payload back, metadata included."""
    codec = EncryptionCodec({"a": KEY_A}, current="a")
    original = clear("Antoine de Saint-Affrique")
    first, second = await codec.encode([original, original])
    assert first.metadata["encoding"] == ENCODING
    assert first.metadata[KEY_ID_METADATA] == b"a"
    assert b"Antoine" not in first.SerializeToString()
    assert first.data[:12] != second.data[:12], "nonce reused"
    assert await codec.decode([first, second]) == [original, original]


async def test_unencrypted_payload_passes_through_decode() -> None:
    """Histories recorded before encryption keep decoding: a payload without our encoding is
    returned as it is."""
    codec = EncryptionCodec({"a": KEY_A}, current="a")
    legacy = clear("recorded before encryption")
    assert await codec.decode([legacy]) == [legacy]


async def test_tampered_or_relabelled_payload_is_refused() -> None:
    """The tag covers the data and the key id: a flipped bit, a ciphertext moved under another
    key id, or an unknown key id fails, and the error names the key id only."""
    codec = EncryptionCodec({"a": KEY_A, "b": KEY_B}, current="a")
    [sealed] = await codec.encode([clear("national 85073003328")])

    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID_METADATA] = b"b"
    unknown = Payload()
    unknown.CopyFrom(sealed)
    unknown.metadata[KEY_ID_METADATA] = b"gone"
    for bad in (flipped, relabelled, unknown):
        with pytest.raises(CodecError) as caught:
            await codec.decode([bad])
        assert "85073003328" not in str(caught.value)
    assert "gone" in str(caught.value)


def test_keys_parse_from_json_or_pairs() -> None:
    """Both spellings of ONBOARDING_PAYLOAD_KEYS give the same keys; URL-safe base64 works."""
    as_json = parse_keys(f'{{"2025-01": "{b64(KEY_A)}", "2026-01": "{b64(KEY_B)}"}}')
    urlsafe = base64.urlsafe_b64encode(KEY_B).decode().rstrip("=")
    as_pairs = parse_keys(f"2025-01:{b64(KEY_A)}, 2026-01:{urlsafe}")
    assert as_json == as_pairs == {"2025-01": KEY_A, "2026-01": KEY_B}


@pytest.mark.parametrize(
    "raw",
    [
        f"a:{b64(os.urandom(16))}",  # AES-128, not 256
        "a:not base64!",
        "a",
        f"a:{b64(KEY_A)},a:{b64(KEY_B)}",
        f"bad id:{b64(KEY_A)}",
        '{"a": 1}',
    ],
    ids=["short", "not-base64", "no-key", "duplicate", "bad-id", "json-not-string"],
)
def test_bad_keys_are_refused_without_echoing_them(raw: str) -> None:
    """A malformed key setting stops start-up; the message never shows key material."""
    with pytest.raises(CodecError) as caught:
        parse_keys(raw)
    assert b64(KEY_A) not in str(caught.value)


def production(**changes: Any) -> Settings:
    return Settings(env=Environment.production, secret_key=SecretStr("s" * 32), **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"payload_keys": SecretStr("changethis")},
        {"payload_keys": SecretStr(f"{DEV_KEY_ID}:{b64(DEV_KEY)}")},
        {"payload_keys": SecretStr(f"mine:{b64(DEV_KEY)}")},
        {"payload_keys": SecretStr(f"a:{b64(KEY_A)},b:{b64(KEY_B)}")},
        {"payload_keys": SecretStr(f"a:{b64(KEY_A)}"), "payload_key_id": "b"},
        {"payload_keys": SecretStr(f"a:{b64(KEY_A)}"), "codec_token": SecretStr("change-me")},
    ],
    ids=[
        "missing",
        "placeholder",
        "dev-key",
        "dev-key-renamed",
        "two-keys-no-current",
        "current-not-given",
        "placeholder-token",
    ],
)
def test_production_refuses_missing_or_placeholder_keys(changes: dict[str, Any]) -> None:
    """Outside development, settings without real keys (or with a placeholder codec token)
    refuse to load, and the error shows no key."""
    with pytest.raises(ValidationError) as caught:
        production(**changes)
    assert b64(KEY_A) not in str(caught.value)
    assert b64(DEV_KEY) not in str(caught.value)


def test_production_with_keys_uses_the_current_one() -> None:
    """Several keys: the named one encrypts, all of them decrypt; no development key."""
    settings = production(
        payload_keys=SecretStr(f'{{"a": "{b64(KEY_A)}", "b": "{b64(KEY_B)}"}}'),
        payload_key_id="b",
        codec_token=SecretStr("t" * 32),
    )
    keys, current = settings.payload_keyring()
    assert (keys, current) == ({"a": KEY_A, "b": KEY_B}, "b")
    assert temporal.payload_codec(settings).key_ids == {"a", "b"}


def test_development_falls_back_to_the_labelled_dev_key() -> None:
    """With no keys, development and test use the public development key."""
    keys, current = Settings(env=Environment.development).payload_keyring()
    assert (keys, current) == ({DEV_KEY_ID: DEV_KEY}, DEV_KEY_ID)


async def test_failure_message_and_stack_trace_are_encrypted() -> None:
    """An error text naming a client travels encrypted; the receiving side reads it back."""
    converter = temporal.data_converter(Settings(env=Environment.test))
    try:
        raise ApplicationError("SMTP refused antoine@danone.example", type="EmailRefused")
    except ApplicationError as error:
        failure = Failure()
        await converter.encode_failure(error, failure)
    assert b"antoine@danone.example" not in failure.SerializeToString()
    assert (failure.message, failure.stack_trace) == ("Encoded failure", "")
    decoded = await converter.decode_failure(failure)
    assert "antoine@danone.example" in str(decoded)


async def test_memo_and_summary_are_encrypted(temporal_env: WorkflowEnvironment) -> None:
    """A memo and a static summary set through the client reach history as ciphertext."""
    client = temporal_env.client
    handle = await client.start_workflow(
        "NeverRuns",
        id=f"privacy-memo-{uuid.uuid4()}",
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        memo={"contact": "Antoine de Saint-Affrique"},
        static_summary="Onboarding of Antoine de Saint-Affrique",
    )
    try:
        raw = await _raw_client(client)
        history = await raw.get_workflow_handle(handle.id).fetch_history()
        assert b"Saint-Affrique" not in history.events[0].SerializeToString()
        described = await handle.describe()
        assert (await described.memo_value("contact")) == "Antoine de Saint-Affrique"
        assert await described.static_summary() == "Onboarding of Antoine de Saint-Affrique"
    finally:
        await handle.terminate()


async def _raw_client(client: Client) -> Client:
    """A client of the same server without the codec: what anyone with namespace access sees."""
    return await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=pydantic_data_converter,
    )


def _replayer(settings: Settings) -> Replayer:
    return Replayer(
        workflows=[OnboardingWorkflow],
        data_converter=temporal.data_converter(settings),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def _onboard(client: Client) -> WorkflowHistory:
    """A whole onboarding (fake activities) run by workers on `client`'s converter."""
    fakes = Fakes()
    queue = f"rotation-{uuid.uuid4().hex[:8]}"
    registry = f"{queue}-registry"
    data = make_input(registry_task_queue=registry)
    main_activities: list[Callable[..., Any]] = fakes.main()
    async with (
        Worker(
            client,
            task_queue=queue,
            workflows=[OnboardingWorkflow],
            activities=main_activities,
            workflow_runner=WORKFLOW_RUNNER,
        ),
        Worker(client, task_queue=registry, activities=[fakes.lookup_company]),
    ):
        handle = await client.start_workflow(
            OnboardingWorkflow.run, data, id=f"onboarding-{data.onboarding_id}", task_queue=queue
        )
        await handle.result()
    return await handle.fetch_history()


async def test_history_under_old_key_replays_and_decodes_after_rotation(
    temporal_env: WorkflowEnvironment,
) -> None:
    """Written under key A; B added and made current: the history replays with the new
    converter and its input decodes. Without A among the keys it does not replay."""
    address = temporal_env.client.service_client.config.target_host
    before = Settings(env=Environment.test, payload_keys=SecretStr(f"a:{b64(KEY_A)}"))
    after = Settings(
        env=Environment.test,
        payload_keys=SecretStr(f"a:{b64(KEY_A)},b:{b64(KEY_B)}"),
        payload_key_id="b",
    )
    only_b = Settings(env=Environment.test, payload_keys=SecretStr(f"b:{b64(KEY_B)}"))

    history = await _onboard(await temporal.connect(before, address=address))
    started = history.events[0].workflow_execution_started_event_attributes
    [sealed] = started.input.payloads
    assert sealed.metadata[KEY_ID_METADATA] == b"a"
    assert b"Antoine" not in history.events[0].SerializeToString()

    assert (await _replayer(after).replay_workflow(history)).replay_failure is None
    [decoded] = await temporal.payload_codec(after).decode([sealed])
    assert b"Antoine" in decoded.data

    # The check above can fail: a reader without key A cannot replay this history.
    failed = await _replayer(only_b).replay_workflow(history, raise_on_replay_failure=False)
    assert failed.replay_failure is not None
