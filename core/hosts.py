"""Host entries of the outbound settings (`outbound_allowed_hosts`, `outbound_allow_private_hosts`):
how each is read. Below both core/settings.py, which refuses a malformed entry at start-up, and
core/outbound.py, which applies them to each call, so neither has to import the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One DNS label, as a resolver accepts it after IDNA encoding.
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normal_host(host: str) -> str:
    """The host as a resolver reads it: lower-case, without brackets or a final dot."""
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _split_port(entry: str) -> tuple[str, int | None]:
    """("host", port) from "host", "host:port", "[v6]" or "[v6]:port"."""
    entry = entry.strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{entry!r}: expected [address]:port")
        port_text = rest[1:] if rest else ""
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        host, port_text = entry, ""
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return normal_host(host), int(port_text) if port_text else None


@dataclass(frozen=True)
class HostPattern:
    """An allow-list entry: a host name, or `*.` and a domain (its sub-domains, not itself)."""

    host: str
    wildcard: bool = False
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> HostPattern:
        host, port = _split_port(entry)
        wildcard = host.startswith("*.")
        name = host[2:] if wildcard else host
        labels = name.split(".")
        if not name or not all(LABEL.match(label) for label in labels):
            raise ValueError(
                f"{entry!r}: expected a host name (ASCII, IDNA-encoded), `*.domain`, either "
                "with an optional :port"
            )
        if wildcard and len(labels) < 2:
            raise ValueError(f"{entry!r}: a wildcard needs a domain of two labels or more")
        return cls(host=name, wildcard=wildcard, port=port)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        return host.endswith("." + self.host) if self.wildcard else host == self.host


def parse_private_host(entry: str) -> tuple[str, int]:
    """An `outbound_allow_private_hosts` entry: exactly one host and one port, never a pattern."""
    host, port = _split_port(entry)
    if port is None or not host or any(c in host for c in "*/"):
        raise ValueError(
            f"{entry!r}: private exceptions are exact host:port entries (e.g. 127.0.0.1:8082), "
            "without wildcards or ranges"
        )
    return host, port
