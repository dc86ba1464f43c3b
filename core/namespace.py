"""The Temporal namespace checked against what this release needs: its search attributes.

A release that adds a search attribute meets namespaces set up by older ones (Temporal Cloud, a
self-hosted setup job that did not run, an old `.devstack/`). Temporal then refuses every start
that sets the attribute and fails, in a loop, every workflow task that upserts it (issue 21). So
the worker and the API compare the namespace with domain/search_attributes.py when they
start, and say which attribute is missing and the command that adds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core import metrics
from domain.search_attributes import REGISTRY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MissingAttribute:
    name: str
    type: str  # as `temporal operator search-attribute create --type` spells it
    command: str  # the command that adds it to the namespace


def add_command(*, namespace: str, name: str, kind: str) -> str:
    return (
        f"temporal operator search-attribute create --namespace {namespace} "
        f"--name {name} --type {kind}"
    )


def _type_name(value: int) -> str:
    # INDEXED_VALUE_TYPE_DATETIME -> Datetime, INDEXED_VALUE_TYPE_KEYWORD_LIST -> KeywordList
    words = IndexedValueType.Name(value).removeprefix("INDEXED_VALUE_TYPE_").split("_")  # type: ignore[arg-type]  # protobuf's stubs want the enum's NewType
    return "".join(word.capitalize() for word in words)


def indexed_value_type(kind: str) -> IndexedValueType.ValueType:
    """The enum value of a type as REGISTRY spells it (Datetime, KeywordList...)."""
    for value in IndexedValueType.values():
        if _type_name(value) == kind:
            return value
    raise ValueError(f"not a search attribute type: {kind}")


async def missing_search_attributes(client: Client) -> list[MissingAttribute]:
    """This release's search attributes the client's namespace lacks, or has with another type
    (as bad as missing: Temporal refuses the value). Raises when Temporal cannot be asked."""
    answer = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    registered = {name: _type_name(kind) for name, kind in answer.custom_attributes.items()}
    return [
        MissingAttribute(
            name=name,
            type=kind,
            command=add_command(namespace=client.namespace, name=name, kind=kind),
        )
        for name, kind in REGISTRY.items()
        if registered.get(name) != kind
    ]


_last_reported: dict[tuple[str, str], frozenset[str]] = {}


def report(missing: list[MissingAttribute], *, namespace: str, process: str) -> None:
    """Set the gauge (every attribute of ours: 1 missing, 0 present) and log one line per
    missing attribute with the command that adds it."""
    absent = {attribute.name for attribute in missing}
    for name in REGISTRY:
        metrics.SEARCH_ATTRIBUTE_MISSING.labels(name=name).set(1 if name in absent else 0)
    # /healthz checks on every probe: log when the answer changes, not every few seconds.
    seen = frozenset(absent)
    if _last_reported.get((process, namespace)) == seen:
        return
    _last_reported[(process, namespace)] = seen
    if not missing:
        log.info("temporal namespace has every search attribute this release needs")
    for attribute in missing:
        log.error(
            "temporal namespace lacks a search attribute this release needs",
            extra={
                "component": process,
                "namespace": namespace,
                "search_attribute": attribute.name,
                "search_attribute_type": attribute.type,
                "fix": attribute.command,
            },
        )


async def check(client: Client, *, process: str) -> list[MissingAttribute]:
    """missing_search_attributes(), reported."""
    missing = await missing_search_attributes(client)
    report(missing, namespace=client.namespace, process=process)
    return missing


class NamespaceIncompleteError(RuntimeError):
    """The worker refuses to run against a namespace missing search attributes."""

    def __init__(self, namespace: str, missing: list[MissingAttribute]) -> None:
        self.missing = missing
        lines = "\n".join(f"  {attribute.command}" for attribute in missing)
        names = ", ".join(attribute.name for attribute in missing)
        super().__init__(
            f"Temporal namespace {namespace} lacks the search attribute(s) {names} this "
            f"release sets; add them, then start again:\n{lines}"
        )
