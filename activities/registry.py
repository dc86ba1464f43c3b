"""Company registry lookups: the HTTP clients and the activity of the onboarding's SIRET step.

Two registries answer the same question ("which company is this SIRET?"): the open API Recherche
d'entreprises (the default, no key) and INSEE Sirene 3.11 (a key). Both are behind the
`RegistryClient` protocol and end in the same `CompanyRecord`; their facts are in
shared/reference/company-registry.md.

Outcomes, and what Temporal does with each:
- found -> the record; unknown -> None. Both are answers, not failures: the workflow decides.
- rate limited (429) -> a retryable failure whose next retry waits the registry's Retry-After.
- unavailable (5xx, timeout, connection trouble) -> a retryable failure, default backoff.
- rejected (another 4xx: bad key, no subscription) and a malformed SIRET -> non-retryable: the
  same request cannot succeed later.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol, Self, cast

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.pacing import FleetPacer, NoSlotSoon, RequestPacer
from core import metrics
from core.settings import Settings
from domain.company import CompanyRecord, unmask
from domain.error_types import ErrorType
from store import import_lookups
from store.pool import Pool

DEFAULT_BASE_URL = "https://recherche-entreprises.api.gouv.fr"
INSEE_BASE_URL = "https://api.insee.fr/api-sirene/3.11"
DEFAULT_USER_AGENT = "onboarding-service/0.1 (+https://onboarding.dev)"
DEFAULT_TIMEOUT_SECONDS = 5.0
SOURCE_RECHERCHE_ENTREPRISES = "recherche-entreprises"
SOURCE_INSEE = "insee"

RegistryKind = Literal["recherche-entreprises", "insee"]

# A Retry-After beyond this is taken as this: a confused proxy must not park an onboarding for
# days, and asking again early costs one more 429 at worst.
MAX_RETRY_AFTER_SECONDS = 600.0
_SIRET = re.compile(r"[0-9]{14}")


class RegistryError(Exception):
    """Base of every registry failure (not of "unknown", which is an answer)."""


class RegistryRateLimited(RegistryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"registry rate limit reached; retry after {retry_after:g}s")
        self.retry_after = retry_after


class RegistryUnavailable(RegistryError):
    """5xx, timeout, connection refused or reset, or an answer we cannot read: try again later."""


class RegistryRejected(RegistryError):
    """A 4xx other than 429 (bad key, no subscription, bad request): retrying will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"registry refused the request ({status}): {detail}")
        self.status = status


class InvalidSiret(ValueError):
    """Not 14 digits. Never sent: the search API would take it for a name search."""


def normalize_siret(siret: str) -> str:
    """The SIRET without spaces; InvalidSiret unless 14 ASCII digits remain."""
    compact = "".join(siret.split())
    if not _SIRET.fullmatch(compact):
        raise InvalidSiret("a SIRET is 14 digits")
    return compact


def parse_retry_after(value: str | None, *, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if value is None or not value.strip():
        return default
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class RegistryClient(Protocol):
    async def lookup_siret(self, siret: str) -> CompanyRecord | None:
        """The establishment and its company, or None when the registry does not know it."""
        ...

    async def lookup_siren(self, siren: str) -> list[CompanyRecord] | None:
        """Every establishment of the legal unit that one request tells of, the head office
        first; [] when the registry does not know the SIREN; None when this registry cannot
        answer that in one request (then ask SIRET by SIRET)."""
        ...


class _HttpRegistry:
    """What both HTTP registries share: headers, timeout, and the mapping of transport failures."""

    # When a 429 comes without Retry-After.
    default_retry_after: float = 1.0

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        user_agent: str,
        http: httpx.AsyncClient | None,
        headers: dict[str, str] | None = None,
        pacer: RequestPacer | None = None,
        fleet: FleetPacer | None = None,
    ) -> None:
        if not user_agent.strip():
            raise ValueError("the registries ask every client to identify itself: set user_agent")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Sent on every request, so a shared AsyncClient with other defaults still identifies us.
        self._headers = {"User-Agent": user_agent, "Accept": "application/json", **(headers or {})}
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        # Spaces this process's requests to the registry's sliding-window limit.
        self._pacer = pacer
        # Spaces the whole fleet's requests (every process on every host sharing the database).
        self._fleet = fleet

    async def aclose(self) -> None:
        """Close the HTTP client if this object opened it (a client passed in is the caller's)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        # Messages name no SIRET: they end up in workflow history, and a sole trader's SIRET
        # identifies a person.
        try:
            # The process's window first: a request waiting for its fleet slot holds a place in
            # it, which bounds the slots a process reserves (and wastes if it is killed).
            async with (
                self._pacer.request() if self._pacer else contextlib.nullcontext(),
                self._fleet.request() if self._fleet else contextlib.nullcontext(),
            ):
                response = await self._http.get(
                    f"{self.base_url}{path}",
                    params=params,
                    headers=self._headers,
                    timeout=self.timeout,
                )
        except NoSlotSoon as exc:
            # Never sent: the fleet's budget is spent for now.
            raise RegistryRateLimited(exc.retry_in) from exc
        except httpx.TimeoutException as exc:
            metrics.registry_answered("timeout")
            raise RegistryUnavailable(
                f"registry did not answer within {self.timeout:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.RequestError as exc:
            metrics.registry_answered("unreachable")
            raise RegistryUnavailable(f"registry unreachable ({type(exc).__name__})") from exc
        metrics.registry_answered(response.status_code)
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            raise RegistryRateLimited(
                parse_retry_after(
                    response.headers.get("Retry-After"), default=self.default_retry_after
                )
            )
        if response.status_code >= 500:
            raise RegistryUnavailable(
                f"registry answered {response.status_code}: {_error_detail(response)}"
            )
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            # A 200 that is not JSON is a maintenance page or a proxy's: likely to pass.
            raise RegistryUnavailable("registry answered 200 with a body that is not JSON") from exc


def _error_detail(response: httpx.Response) -> str:
    """The registry's own words: `erreur` (Recherche d'entreprises), `header.message` (INSEE)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict):
        if isinstance(body.get("erreur"), str):
            return str(body["erreur"])
        header = body.get("header")
        if isinstance(header, dict) and isinstance(header.get("message"), str):
            return str(header["message"])
    return response.reason_phrase or "no detail"


def _to_date(value: str | None) -> date | None:
    """An ISO date, or None when absent, masked or unreadable (a date is never worth a retry)."""
    value = unmask(value)
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# -- API Recherche d'entreprises --------------------------------------------------------------


class _Etablissement(BaseModel):
    model_config = ConfigDict(extra="ignore")

    siret: str
    adresse: str | None = None
    code_postal: str | None = None
    libelle_commune: str | None = None
    activite_principale: str | None = None
    est_siege: bool | None = None
    etat_administratif: str | None = None
    date_fermeture: str | None = None


class _UniteLegale(BaseModel):
    model_config = ConfigDict(extra="ignore")

    siren: str
    nom_complet: str | None = None
    nom_raison_sociale: str | None = None
    activite_principale: str | None = None
    nature_juridique: str | None = None
    etat_administratif: str | None = None
    date_fermeture: str | None = None
    siege: _Etablissement | None = None
    matching_etablissements: list[_Etablissement] = []


class _SearchAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[_UniteLegale]


class RechercheEntreprisesClient(_HttpRegistry):
    """The API Recherche d'entreprises: `GET /search?q=<SIRET>`, open, 7 requests/s per IP."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        user_agent: str = DEFAULT_USER_AGENT,
        http: httpx.AsyncClient | None = None,
        pacer: RequestPacer | None = None,
        fleet: FleetPacer | None = None,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, user_agent=user_agent, http=http, pacer=pacer, fleet=fleet
        )

    async def _search(self, number: str) -> list[_UniteLegale]:
        """The legal units a direct lookup of a SIREN or SIRET answers (none: unknown)."""
        response = await self._get("/search", {"q": number, "page": "1", "per_page": "1"})
        if response.status_code != httpx.codes.OK:
            raise RegistryRejected(response.status_code, _error_detail(response))
        try:
            answer = _SearchAnswer.model_validate(self._json(response))
        except ValidationError as exc:
            raise RegistryUnavailable("registry answer does not have the expected shape") from exc
        return answer.results

    async def lookup_siret(self, siret: str) -> CompanyRecord | None:
        siret = normalize_siret(siret)
        # 14 digits make `q` a direct lookup: at most one legal unit comes back.
        for unit in await self._search(siret):
            if unit.siren != siret[:9]:
                continue
            etab = next((e for e in unit.matching_etablissements if e.siret == siret), None)
            if etab is None and unit.siege is not None and unit.siege.siret == siret:
                etab = unit.siege
            if etab is not None:
                return self._record(unit, etab)
        # Unknown: the API answers 200 with no results, never 404.
        return None

    async def lookup_siren(self, siren: str) -> list[CompanyRecord] | None:
        siren = "".join(siren.split())
        if not (len(siren) == 9 and siren.isascii() and siren.isdigit()):
            raise InvalidSiret("a SIREN is 9 digits")
        # 9 digits make `q` a direct lookup of the legal unit: its head office and the
        # establishments it lists (matching_etablissements; a large network lists only some).
        unit = next((u for u in await self._search(siren) if u.siren == siren), None)
        if unit is None:
            return []
        listed = [unit.siege] if unit.siege is not None else []
        listed += [e for e in unit.matching_etablissements if e.siret.startswith(siren)]
        seen: set[str] = set()
        records = []
        for etab in listed:
            if etab.siret not in seen:
                seen.add(etab.siret)
                records.append(self._record(unit, etab))
        return records

    @staticmethod
    def _record(unit: _UniteLegale, etab: _Etablissement) -> CompanyRecord:
        active = unit.etat_administratif == "A" and etab.etat_administratif != "F"
        is_head_office = (
            etab.est_siege
            if etab.est_siege is not None
            else unit.siege is not None and unit.siege.siret == etab.siret
        )
        return CompanyRecord(
            siret=etab.siret,
            siren=unit.siren,
            # nom_complet appends the acronym ("... (DINUM)"); the legal name is the raison
            # sociale, which a sole trader has not: there nom_complet is first name and name.
            name=unmask(unit.nom_raison_sociale) or unit.nom_complet,
            address=etab.adresse,
            postal_code=etab.code_postal,
            city=etab.libelle_commune,
            activity_code=unmask(unit.activite_principale) or etab.activite_principale,
            legal_form=unit.nature_juridique,
            is_head_office=is_head_office,
            active=active,
            closed_on=(
                None if active else _to_date(etab.date_fermeture) or _to_date(unit.date_fermeture)
            ),
            source=SOURCE_RECHERCHE_ENTREPRISES,
        )


# -- INSEE Sirene 3.11 -------------------------------------------------------------------------


class _InseeModel(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel)


class _InseeUniteLegale(_InseeModel):
    denomination_unite_legale: str | None = None
    nom_unite_legale: str | None = None
    prenom1_unite_legale: str | None = None
    categorie_juridique_unite_legale: str | None = None
    activite_principale_unite_legale: str | None = None
    etat_administratif_unite_legale: str | None = None


class _InseeAdresse(_InseeModel):
    complement_adresse_etablissement: str | None = None
    numero_voie_etablissement: str | None = None
    indice_repetition_etablissement: str | None = None
    type_voie_etablissement: str | None = None
    libelle_voie_etablissement: str | None = None
    code_postal_etablissement: str | None = None
    libelle_commune_etablissement: str | None = None


class _InseePeriode(_InseeModel):
    date_fin: str | None = None
    date_debut: str | None = None
    etat_administratif_etablissement: str | None = None


class _InseeEtablissement(_InseeModel):
    siren: str
    siret: str
    etablissement_siege: bool = False
    unite_legale: _InseeUniteLegale
    adresse_etablissement: _InseeAdresse = _InseeAdresse()
    periodes_etablissement: list[_InseePeriode] = []


class _InseeAnswer(_InseeModel):
    etablissement: _InseeEtablissement


# Sirene publishes street types as codes; spelled out as the API Recherche d'entreprises does, so
# both registries give the same one-line address.
_STREET_TYPES = {
    "ALL": "ALLEE",
    "AV": "AVENUE",
    "BD": "BOULEVARD",
    "CAR": "CARREFOUR",
    "CHE": "CHEMIN",
    "CHS": "CHAUSSEE",
    "CRS": "COURS",
    "FG": "FAUBOURG",
    "HAM": "HAMEAU",
    "IMP": "IMPASSE",
    "LD": "LIEU-DIT",
    "PAS": "PASSAGE",
    "PL": "PLACE",
    "PRO": "PROMENADE",
    "QUA": "QUARTIER",
    "RES": "RESIDENCE",
    "RPT": "ROND-POINT",
    "RTE": "ROUTE",
    "SEN": "SENTIER",
    "SQ": "SQUARE",
    "ZA": "ZONE ARTISANALE",
    "ZI": "ZONE INDUSTRIELLE",
}


class InseeSireneClient(_HttpRegistry):
    """INSEE Sirene 3.11: `GET /siret/{siret}` with an API key; 30 requests per minute."""

    # Its quota is per minute: without Retry-After, a window can take that long to free up.
    default_retry_after = 60.0

    def __init__(
        self,
        base_url: str = INSEE_BASE_URL,
        api_key: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        user_agent: str = DEFAULT_USER_AGENT,
        http: httpx.AsyncClient | None = None,
        pacer: RequestPacer | None = None,
        fleet: FleetPacer | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("INSEE Sirene needs an API key")
        super().__init__(
            base_url,
            timeout=timeout,
            user_agent=user_agent,
            http=http,
            headers={"X-INSEE-Api-Key-Integration": api_key},
            pacer=pacer,
            fleet=fleet,
        )

    async def lookup_siren(self, siren: str) -> list[CompanyRecord] | None:
        # `/siren/{siren}` describes the legal unit without its establishments' addresses.
        return None

    async def lookup_siret(self, siret: str) -> CompanyRecord | None:
        siret = normalize_siret(siret)
        response = await self._get(f"/siret/{siret}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise RegistryRejected(response.status_code, _error_detail(response))
        try:
            etab = _InseeAnswer.model_validate(self._json(response)).etablissement
        except ValidationError as exc:
            raise RegistryUnavailable("registry answer does not have the expected shape") from exc
        unit = etab.unite_legale
        current = next((p for p in etab.periodes_etablissement if p.date_fin is None), None)
        closed = current is not None and current.etat_administratif_etablissement == "F"
        active = unit.etat_administratif_unite_legale == "A" and not closed
        address = etab.adresse_etablissement
        street = _join(
            address.complement_adresse_etablissement,
            address.numero_voie_etablissement,
            address.indice_repetition_etablissement,
            _street_type(address.type_voie_etablissement),
            address.libelle_voie_etablissement,
        )
        return CompanyRecord(
            siret=etab.siret,
            siren=etab.siren,
            name=unmask(unit.denomination_unite_legale)
            or _join(unit.prenom1_unite_legale, unit.nom_unite_legale),
            # A masked street leaves no address worth writing on an envelope, as the search
            # API masks `adresse` whole.
            address=(
                _join(
                    street,
                    address.code_postal_etablissement,
                    address.libelle_commune_etablissement,
                )
                if street
                else None
            ),
            postal_code=address.code_postal_etablissement,
            city=address.libelle_commune_etablissement,
            activity_code=unit.activite_principale_unite_legale,
            legal_form=unit.categorie_juridique_unite_legale,
            is_head_office=etab.etablissement_siege,
            active=active,
            # The current period of a closed establishment starts on the day it closed.
            closed_on=_to_date(current.date_debut) if closed and current is not None else None,
            source=SOURCE_INSEE,
        )


def _join(*parts: str | None) -> str | None:
    public = [p for p in (unmask(part) for part in parts) if p]
    return " ".join(public) or None


def _street_type(code: str | None) -> str | None:
    code = unmask(code)
    return _STREET_TYPES.get(code.upper(), code) if isinstance(code, str) else None


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryConfig:
    """Which registry to ask and how (`from_settings` for the service's own)."""

    base_url: str = DEFAULT_BASE_URL
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    user_agent: str = DEFAULT_USER_AGENT
    kind: RegistryKind = "recherche-entreprises"
    insee_api_key: str | None = field(default=None, repr=False)
    # The registry's limit, requests per second (None: unpaced). Each process keeps it in any
    # window on its own; with a database pool the fleet shares it too (see FleetPacer).
    rate_limit: float | None = None
    # Fleet slots are (1 + fleet_margin) / rate_limit apart; reserved at most fleet_horizon
    # seconds ahead.
    fleet_margin: float = 0.0
    fleet_horizon_seconds: float = 4.0

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if self.fleet_margin < 0 or self.fleet_horizon_seconds < 0:
            raise ValueError("fleet_margin and fleet_horizon_seconds must not be negative")

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryConfig:
        """The worker's and the API's look-ups (app/company.py) read the same configuration, so
        both spend one fleet-wide budget."""
        return cls(
            base_url=settings.registry_base_url,
            timeout_seconds=settings.registry_timeout_seconds,
            user_agent=settings.registry_user_agent,
            kind=cast(RegistryKind, settings.registry_kind),
            insee_api_key=(
                settings.registry_insee_api_key.get_secret_value()
                if settings.registry_insee_api_key
                else None
            ),
            rate_limit=settings.registry_rate_limit,
            fleet_margin=settings.registry_fleet_margin,
            fleet_horizon_seconds=settings.registry_fleet_horizon_seconds,
        )

    @property
    def fleet_key(self) -> str:
        """The limiter row shared by every process asking this registry."""
        return f"registry:{self.kind}:{self.base_url.rstrip('/')}"

    @property
    def fleet_rate(self) -> float | None:
        """Requests per second the fleet reaches at most (the limit less the margin)."""
        return self.rate_limit / (1.0 + self.fleet_margin) if self.rate_limit else None


def build_registry_client(
    config: RegistryConfig,
    http: httpx.AsyncClient | None = None,
    *,
    pool: Pool | None = None,
    wait_at_most: float | None = None,
) -> RegistryClient:
    """The configured registry client. Pass the process's AsyncClient (closed by its owner);
    without one the client opens its own, closed by its `aclose()`. Pass the database pool to
    share the rate limit with every other process (the worker does); without it only this
    process is paced. With `wait_at_most` (a person waiting at a page), a request that would wait
    longer for its fleet slot raises RegistryRateLimited instead of waiting."""
    pacer = RequestPacer.per_second(config.rate_limit) if config.rate_limit else None
    fleet = (
        FleetPacer(
            pool,
            key=config.fleet_key,
            rate=config.rate_limit,
            margin=config.fleet_margin,
            horizon=config.fleet_horizon_seconds,
            wait_at_most=wait_at_most,
        )
        if pool is not None and config.rate_limit
        else None
    )
    if config.kind == "insee":
        # The default base_url is the Recherche d'entreprises one: with kind=insee and no URL of
        # its own, INSEE's is meant.
        base_url = INSEE_BASE_URL if config.base_url == DEFAULT_BASE_URL else config.base_url
        return InseeSireneClient(
            base_url,
            config.insee_api_key or "",
            timeout=config.timeout_seconds,
            user_agent=config.user_agent,
            http=http,
            pacer=pacer,
            fleet=fleet,
        )
    if config.kind == "recherche-entreprises":
        return RechercheEntreprisesClient(
            config.base_url,
            timeout=config.timeout_seconds,
            user_agent=config.user_agent,
            http=http,
            pacer=pacer,
            fleet=fleet,
        )
    raise ValueError(f"unknown registry kind {config.kind!r}")


# -- activity ----------------------------------------------------------------------------------


class LookupCompanyInput(BaseModel):
    siret: str
    # Set for the rows of a bulk import: answers are remembered for the import, and a SIREN
    # shared by several rows is asked about once, as a whole.
    import_id: uuid.UUID | None = None
    siren_shared: bool = False


class LookupCompanyResult(BaseModel):
    company: CompanyRecord | None  # None: the registry does not know this SIRET
    attempt: int
    # True when the answer came from an earlier lookup of the same import, with no request.
    reused: bool = False


class RegistryActivities:
    def __init__(self, client: RegistryClient, pool: Pool | None = None) -> None:
        self.client = client
        # Without a pool, nothing is remembered between lookups (every call asks the registry).
        self.pool = pool
        # A lookup of an import holds one of the pool's connections (its SIREN's lock) until its
        # request has ended, and the fleet pacer takes its slot on a connection of the same
        # pool: with every connection held by a lookup waiting for a slot, no slot could be
        # taken, and lookups stalled until their start-to-close timeout (the rate bench, with
        # more lookups handed to the worker than its pool has connections). At most half the
        # pool holds SIREN locks; the rest serves the pacer and the worker's other activities.
        self._lock_holders = (
            asyncio.Semaphore(max(1, pool.get_max_size() // 2)) if pool is not None else None
        )

    @activity.defn
    async def lookup_company(self, data: LookupCompanyInput) -> LookupCompanyResult:
        """Ask the registry about one SIRET. Reads only, so a retry is always safe."""
        try:
            if data.import_id is not None and self.pool is not None:
                company, reused = await self._lookup_in_import(data, data.import_id, self.pool)
            else:
                company, reused = await self.client.lookup_siret(data.siret), False
        except RegistryRateLimited as exc:
            # next_retry_delay replaces the retry policy's backoff for this one retry, so the
            # next attempt comes when the registry said it would accept it, not before.
            raise ApplicationError(
                str(exc),
                type=ErrorType.RegistryRateLimited,
                next_retry_delay=timedelta(seconds=exc.retry_after),
            ) from exc
        except RegistryUnavailable as exc:
            raise ApplicationError(str(exc), type=ErrorType.RegistryUnavailable) from exc
        except RegistryRejected as exc:
            raise ApplicationError(
                str(exc), type=ErrorType.RegistryRejected, non_retryable=True
            ) from exc
        except InvalidSiret as exc:
            raise ApplicationError(
                str(exc), type=ErrorType.InvalidSiret, non_retryable=True
            ) from exc
        activity.logger.info(
            "registry lookup answered",
            extra={
                "found": company is not None,
                "company_active": company.active if company else None,
                "reused": reused,
            },
        )
        return LookupCompanyResult(company=company, attempt=activity.info().attempt, reused=reused)

    async def _lookup_in_import(
        self, data: LookupCompanyInput, import_id: uuid.UUID, pool: Pool
    ) -> tuple[CompanyRecord | None, bool]:
        """(record, reused): one request per SIREN of the import when the registry allows it."""
        siret = normalize_siret(data.siret)
        siren = siret[:9]
        assert self._lock_holders is not None  # set with the pool
        async with self._lock_holders, import_lookups.locked(pool, import_id, siren) as conn:
            known = await import_lookups.recall(conn, import_id=import_id, siren=siren, siret=siret)
            if known.siret_found is not None:
                return known.record, True
            if known.siren_found is False:
                return None, True  # the registry does not know the legal unit at all
            if data.siren_shared and known.siren_found is None:
                listed = await self.client.lookup_siren(siren)
                if listed is not None:
                    await import_lookups.remember_siren(
                        conn, import_id=import_id, siren=siren, records=listed
                    )
                    match = next((r for r in listed if r.siret == siret), None)
                    if match is not None or not listed:
                        return match, False
                    # A large network lists only some establishments: ask about this one.
            record = await self.client.lookup_siret(siret)
            await import_lookups.remember_siret(
                conn, import_id=import_id, siren=siren, siret=siret, record=record
            )
            return record, False
