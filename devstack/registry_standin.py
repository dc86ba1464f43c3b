"""A stand-in for the "API Recherche d'entreprises", for `make dev`, the tests and the benchmarks.

It speaks the real protocol (shared/reference/company-registry.md): `GET /search?q=...`, where a
`q` of exactly 9 or 14 digits (spaces removed) is a direct SIREN/SIRET lookup, anything else a name
search; answers `{results, total_results, page, per_page, total_pages}`; an unknown number is a
200 with no results; errors are `{"erreur": "..."}`. It serves the companies of
registry_fixture.json, plus any extra legal units given (`extra_units=`, `add_units`; see
synthetic_companies.py for as many valid made-up ones as a benchmark needs), and enforces the real
rate limit: 7 requests per second per client IP, then 429 with `Retry-After`.

Tests and benchmarks steer it through methods (`fail_next`, `hang_next`, `set_down`, `reset`,
`stats`) or the same controls over HTTP at `/_control`, which is never rate-limited nor faulted.

A small HTTP/1.1 server on `asyncio.start_server` rather than uvicorn: the faults that matter most
happen below HTTP (a connection closed with no answer, an answer that never comes), and an ASGI app
never holds the socket. Run it alone with `python -m devstack.registry_standin --port 8081`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import re
import signal
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from core.logging import configure_logging
from core.settings import LogFormat
from devstack.synthetic_companies import synthetic_units

log = logging.getLogger(__name__)

FIXTURE_PATH = Path(__file__).with_name("registry_fixture.json")
RATE_LIMIT_PER_SECOND = 7
WINDOW_SECONDS = 1.0
DEFAULT_PORT = 8081
CONTROL_PATH = "/_control"

_MAX_HEADER_BYTES = 16 * 1024
_MAX_BODY_BYTES = 64 * 1024
_MAX_PER_PAGE = 25
_MAX_PAGE = 1000
# The real API returns at most this many matching_etablissements unless asked for more.
_MATCHING_SIZE = 10
_DIRECT_LOOKUP = re.compile(r"[0-9]{9}|[0-9]{14}")

# Keys the real API always returns (null when unknown), in its order.
_RESULT_KEYS = (
    "siren",
    "nom_complet",
    "nom_raison_sociale",
    "sigle",
    "nombre_etablissements",
    "nombre_etablissements_ouverts",
    "siege",
    "activite_principale",
    "categorie_entreprise",
    "annee_categorie_entreprise",
    "date_creation",
    "date_fermeture",
    "dirigeants",
    "etat_administratif",
    "nature_juridique",
    "section_activite_principale",
    "tranche_effectif_salarie",
    "annee_tranche_effectif_salarie",
    "statut_diffusion",
    "matching_etablissements",
)
_SIEGE_KEYS = (
    "activite_principale",
    "annee_tranche_effectif_salarie",
    "adresse",
    "caractere_employeur",
    "cedex",
    "code_postal",
    "commune",
    "complement_adresse",
    "date_creation",
    "date_debut_activite",
    "date_fermeture",
    "departement",
    "est_siege",
    "etat_administratif",
    "indice_repetition",
    "latitude",
    "libelle_commune",
    "libelle_voie",
    "liste_enseignes",
    "longitude",
    "nom_commercial",
    "numero_voie",
    "region",
    "siret",
    "statut_diffusion_etablissement",
    "tranche_effectif_salarie",
    "type_voie",
)
# As recorded from the real API: matching_etablissements leave the street parts out (`adresse`
# carries them) but keep the rest of what `siege` has.
_MATCHING_KEYS = (
    "activite_principale",
    "annee_tranche_effectif_salarie",
    "adresse",
    "caractere_employeur",
    "code_postal",
    "commune",
    "date_creation",
    "date_debut_activite",
    "date_fermeture",
    "est_siege",
    "etat_administratif",
    "latitude",
    "libelle_commune",
    "liste_enseignes",
    "longitude",
    "nom_commercial",
    "region",
    "siret",
    "statut_diffusion_etablissement",
    "tranche_effectif_salarie",
)

Json = dict[str, Any]


@dataclass(frozen=True)
class StandinStats:
    """Counters since start (or the last `reset`). `/_control` calls are not counted."""

    total_requests: int
    rate_limited: int
    # Most requests received from one client IP within any 1-second window, 429s included:
    # what a client-side limiter must keep at or under 7.
    max_requests_per_window: int
    failed: int
    hung: int
    dropped: int
    # Every distinct User-Agent seen ("" for none): the real API asks clients to name themselves.
    user_agents: frozenset[str]
    # When the first and the last counted request arrived, on the stand-in's clock (monotonic
    # seconds), None before any: a benchmark's achieved rate is measured where it matters.
    first_request_at: float | None = None
    last_request_at: float | None = None

    def as_json(self) -> Json:
        return {
            "total_requests": self.total_requests,
            "rate_limited": self.rate_limited,
            "max_requests_per_window": self.max_requests_per_window,
            "failed": self.failed,
            "hung": self.hung,
            "dropped": self.dropped,
            "user_agents": sorted(self.user_agents),
            "first_request_at": self.first_request_at,
            "last_request_at": self.last_request_at,
        }


@dataclass(frozen=True)
class _Fault:
    kind: Literal["status", "hang"]
    status: int = 500
    seconds: float = 0.0


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self, *, keep_alive: bool) -> bytes:
        payload = json.dumps(self.body, ensure_ascii=False).encode()
        lines = [
            f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(payload)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in self.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, {"erreur": message}, headers or {})


def _normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


class _Registry:
    """The fixture, indexed, and the real API's answer shapes built from it."""

    def __init__(self, units: Iterable[Json]) -> None:
        self.units: list[Json] = []
        self.by_siren: dict[str, Json] = {}
        self.by_siret: dict[str, tuple[Json, Json]] = {}
        self.add(units)

    def add(self, units: Iterable[Json]) -> int:
        """Index more legal units; a SIREN already served is refused (ValueError). Returns how
        many were added."""
        added = list(units)
        counts = Counter(unit["siren"] for unit in added)
        clashes = sorted(s for s, n in counts.items() if n > 1 or s in self.by_siren)
        if clashes:
            raise ValueError(f"SIREN(s) served twice: {', '.join(clashes[:5])}")
        for unit in added:
            self.units.append(unit)
            self.by_siren[unit["siren"]] = unit
            for etab in self._establishments(unit):
                self.by_siret[etab["siret"]] = (unit, etab)
        return len(added)

    @classmethod
    def load(cls, path: Path) -> _Registry:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["unites_legales"])

    @staticmethod
    def _establishments(unit: Json) -> list[Json]:
        return [unit["siege"], *unit.get("autres_etablissements", [])]

    def result(self, unit: Json, matching: list[Json]) -> Json:
        out: Json = {key: unit.get(key) for key in _RESULT_KEYS}
        out["siege"] = {key: unit["siege"].get(key) for key in _SIEGE_KEYS}
        out["dirigeants"] = list(unit.get("dirigeants", []))
        out["matching_etablissements"] = [
            {key: etab.get(key) for key in _MATCHING_KEYS} for etab in matching[:_MATCHING_SIZE]
        ]
        return out

    def search(self, q: str) -> list[Json]:
        compact = q.replace(" ", "")
        if _DIRECT_LOOKUP.fullmatch(compact):
            if len(compact) == 14:
                found = self.by_siret.get(compact)
                return [self.result(found[0], [found[1]])] if found else []
            unit = self.by_siren.get(compact)
            return [self.result(unit, self._establishments(unit))] if unit else []
        words = _normalise(q).split()
        hits = []
        for unit in self.units:
            haystack = _normalise(
                " ".join(str(unit.get(k) or "") for k in ("nom_complet", "sigle"))
            )
            if all(word in haystack for word in words):
                hits.append(self.result(unit, self._establishments(unit)))
        return hits


class RegistryStandin:
    """The stand-in server. Start it in-process (`async with RegistryStandin() as registry:`).

    `port=0` binds a free port chosen by the system (read it back from `.port` / `.url`).
    `rate_limit=None` switches the rate limit off. `clock` (monotonic seconds) drives the rate
    limit and the window counters, so a test can freeze or advance time. `extra_units` are legal
    units served besides the fixture's, in the fixture's shape (see synthetic_companies.py).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fixture: Path = FIXTURE_PATH,
        rate_limit: int | None = RATE_LIMIT_PER_SECOND,
        control_endpoint: bool = True,
        clock: Callable[[], float] = time.monotonic,
        extra_units: Iterable[Json] = (),
    ) -> None:
        self.host = host
        self._requested_port = port
        self._registry = _Registry.load(fixture)
        self._registry.add(extra_units)
        self._rate_limit = rate_limit
        self._control_endpoint = control_endpoint
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._faults: deque[_Fault] = deque()
        self._down = False
        self._reset_counters()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the registry stand-in is already running")
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self._requested_port, limit=_MAX_HEADER_BYTES
        )
        log.info("registry stand-in listening on %s", self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Python 3.11's wait_closed does not wait for open connections; a request hanging on a
        # fault would outlive the server, so end them here.
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> RegistryStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the registry stand-in is not running")
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- test controls -----------------------------------------------------------------------

    def add_units(self, units: Iterable[Json]) -> int:
        """Serve more legal units from now on (not undone by `reset`); returns how many."""
        return self._registry.add(units)

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """The next `count` requests answer `status` (5xx) with an `erreur` body."""
        if count < 1 or not 500 <= status <= 599:
            raise ValueError("fail_next needs count >= 1 and a 5xx status")
        self._faults.extend(_Fault("status", status=status) for _ in range(count))

    def hang_next(self, count: int = 1, *, seconds: float) -> None:
        """The next `count` requests wait `seconds` before answering (to trip client timeouts)."""
        if count < 1 or seconds <= 0:
            raise ValueError("hang_next needs count >= 1 and seconds > 0")
        self._faults.extend(_Fault("hang", seconds=seconds) for _ in range(count))

    def set_down(self, down: bool = True) -> None:
        """While down, every request's connection is closed without an answer."""
        self._down = down
        log.info("registry stand-in down" if down else "registry stand-in up")

    def reset(self) -> None:
        """Clear faults, the down state, the rate-limit windows and every counter."""
        self._faults.clear()
        self._down = False
        self._reset_counters()

    @property
    def stats(self) -> StandinStats:
        return StandinStats(
            total_requests=self._total,
            rate_limited=self._rate_limited,
            max_requests_per_window=self._max_in_window,
            failed=self._failed,
            hung=self._hung,
            dropped=self._dropped,
            user_agents=frozenset(self._user_agents),
            first_request_at=self._first_at,
            last_request_at=self._last_at,
        )

    def _reset_counters(self) -> None:
        self._total = 0
        self._rate_limited = 0
        self._max_in_window = 0
        self._failed = 0
        self._hung = 0
        self._dropped = 0
        self._user_agents: set[str] = set()
        self._first_at: float | None = None
        self._last_at: float | None = None
        # Per client IP: arrival times (all requests) and admitted times (what the limit counts).
        self._arrivals: dict[str, deque[float]] = {}
        self._admitted: dict[str, deque[float]] = {}

    # -- HTTP --------------------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else "unknown"
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except _BadRequest as exc:
                    writer.write(_error(exc.status, exc.message).encode(keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                response = await self._dispatch(request, client_ip)
                if response is None:
                    # "Down": the peer sees the connection close with no answer at all.
                    writer.transport.abort()
                    return
                writer.write(response.encode(keep_alive=request.keep_alive))
                await writer.drain()
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away (e.g. it timed out on a hung request)
        finally:
            self._connections.discard(task)
            writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest(400, "Requête incomplète.") from exc
            return None  # closed between two requests: the normal end of a keep-alive
        except asyncio.LimitOverrunError as exc:
            raise _BadRequest(431, "En-têtes trop longs.") from exc
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "Requête invalide.")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in header_lines:
            if line:
                name, sep, value = line.partition(":")
                if not sep:
                    raise _BadRequest(400, "En-tête invalide.")
                headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise _BadRequest(501, "Transfer-Encoding non pris en charge.")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise _BadRequest(400, "Content-Length invalide.") from exc
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise _BadRequest(413, "Corps de requête trop long.")
        body = await reader.readexactly(length) if length else b""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        url = urlsplit(target)
        return _Request(
            method=method.upper(),
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            body=body,
            keep_alive=keep_alive,
        )

    async def _dispatch(self, request: _Request, client_ip: str) -> _Response | None:
        if request.path == CONTROL_PATH and self._control_endpoint:
            return self._control(request)
        now = self._clock()
        self._total += 1
        if self._first_at is None:
            self._first_at = now
        self._last_at = now
        self._user_agents.add(request.headers.get("user-agent", ""))
        self._observe(client_ip, now)
        if self._down:
            self._dropped += 1
            return None
        retry_after = self._admit(client_ip, now)
        if retry_after is not None:
            self._rate_limited += 1
            return _error(
                429,
                "Vous avez atteint la limite de 7 requêtes par seconde. "
                "Veuillez réessayer plus tard.",
                {"Retry-After": str(retry_after)},
            )
        if self._faults:
            fault = self._faults.popleft()
            if fault.kind == "status":
                self._failed += 1
                return _error(fault.status, "Erreur interne du serveur.")
            self._hung += 1
            await asyncio.sleep(fault.seconds)
        return self._route(request)

    def _observe(self, client_ip: str, now: float) -> None:
        arrivals = self._arrivals.setdefault(client_ip, deque())
        arrivals.append(now)
        while arrivals[0] <= now - WINDOW_SECONDS:
            arrivals.popleft()
        self._max_in_window = max(self._max_in_window, len(arrivals))

    def _admit(self, client_ip: str, now: float) -> int | None:
        """None when the request may go on, else the Retry-After to answer, in whole seconds.

        A sliding one-second log of admitted requests: refused requests do not count, so a client
        that waits as told gets through.
        """
        if self._rate_limit is None:
            return None
        admitted = self._admitted.setdefault(client_ip, deque())
        while admitted and admitted[0] <= now - WINDOW_SECONDS:
            admitted.popleft()
        if len(admitted) >= self._rate_limit:
            # Retry-After is whole seconds (RFC 9110): round the wait for a free slot up.
            return max(1, math.ceil(admitted[0] + WINDOW_SECONDS - now))
        admitted.append(now)
        return None

    def _route(self, request: _Request) -> _Response:
        if request.path != "/search":
            return _error(404, "Page non trouvée.")
        if request.method != "GET":
            return _error(405, "Méthode non autorisée.", {"Allow": "GET"})
        return self._search(request.query)

    def _search(self, query: dict[str, list[str]]) -> _Response:
        q = (query.get("q") or [""])[0].strip()
        if not q:
            return _error(400, "Veuillez indiquer au moins un paramètre de recherche.")
        page = _int_param(query, "page", default=1)
        per_page = _int_param(query, "per_page", default=10)
        if page is None or not 1 <= page <= _MAX_PAGE:
            return _error(400, f"Veuillez indiquer un paramètre `page` entre 1 et {_MAX_PAGE}.")
        if per_page is None or not 1 <= per_page <= _MAX_PER_PAGE:
            return _error(
                400, f"Veuillez indiquer un paramètre `per_page` entre 1 et {_MAX_PER_PAGE}."
            )
        if not _DIRECT_LOOKUP.fullmatch(q.replace(" ", "")) and len(q) < 3:
            return _error(
                400, "Veuillez indiquer un paramètre de recherche d'au moins 3 caractères."
            )
        hits = self._registry.search(q)
        start = (page - 1) * per_page
        return _Response(
            200,
            {
                "results": hits[start : start + per_page],
                "total_results": len(hits),
                "page": page,
                "per_page": per_page,
                "total_pages": math.ceil(len(hits) / per_page),
            },
        )

    def _control(self, request: _Request) -> _Response:
        if request.method == "GET":
            return _Response(200, self._control_state())
        if request.method != "POST":
            return _error(405, "GET or POST only.", {"Allow": "GET, POST"})
        try:
            command = json.loads(request.body or b"{}")
            action = command["action"]
            if action == "fail":
                self.fail_next(int(command.get("count", 1)), status=int(command.get("status", 500)))
            elif action == "hang":
                self.hang_next(int(command.get("count", 1)), seconds=float(command["seconds"]))
            elif action in ("down", "up"):
                self.set_down(action == "down")
            elif action == "reset":
                self.reset()
            else:
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, KeyError, TypeError) as exc:
            return _error(
                400,
                f"bad control command ({exc}); send {{'action': 'fail'|'hang'|'down'|'up'|"
                "'reset', 'count', 'status', 'seconds'}",
            )
        return _Response(200, self._control_state())

    def _control_state(self) -> Json:
        return {
            **self.stats.as_json(),
            "down": self._down,
            "pending_faults": [
                {"kind": f.kind, "status": f.status}
                if f.kind == "status"
                else {"kind": f.kind, "seconds": f.seconds}
                for f in self._faults
            ],
            "rate_limit": self._rate_limit,
        }


def _int_param(query: dict[str, list[str]], name: str, *, default: int) -> int | None:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return None


async def serve(
    *,
    host: str,
    port: int,
    fixture: Path,
    rate_limit: int | None,
    control_endpoint: bool,
    extra_units: Iterable[Json] = (),
) -> None:
    """Run until SIGINT or SIGTERM (what the dev stack sends its children)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    standin = RegistryStandin(
        host=host,
        port=port,
        fixture=fixture,
        rate_limit=rate_limit,
        control_endpoint=control_endpoint,
        extra_units=extra_units,
    )
    async with standin:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.registry_standin",
        description="Stand-in for the API Recherche d'entreprises (GET /search?q=SIREN|SIRET).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--fixture", type=Path, default=FIXTURE_PATH, help="companies to serve")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=RATE_LIMIT_PER_SECOND,
        help="requests per second per client IP before 429 (0: no limit)",
    )
    parser.add_argument(
        "--no-control", action="store_true", help=f"do not serve the {CONTROL_PATH} endpoint"
    )
    parser.add_argument(
        "--synthetic-companies",
        type=int,
        default=0,
        metavar="N",
        help="also serve N made-up companies (SIRENs 99...; devstack/synthetic_companies.py)",
    )
    args = parser.parse_args(argv)
    configure_logging(level="INFO", fmt=LogFormat.console)
    asyncio.run(
        serve(
            host=args.host,
            port=args.port,
            fixture=args.fixture,
            rate_limit=args.rate_limit or None,
            control_endpoint=not args.no_control,
            extra_units=synthetic_units(args.synthetic_companies),
        )
    )


if __name__ == "__main__":
    main()
