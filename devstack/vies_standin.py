"""A stand-in for VIES, the EU's VAT number check, speaking its REST format, with faults on demand.

`POST /check-vat-number` with `{"countryCode": "BE", "vatNumber": "0202239951"}` answers 200
`{"countryCode", "vatNumber", "requestDate", "valid", "name", "address"}`: valid for the real
companies of the KBO sample (devstack/kbo_data.py) and its synthetic enterprises (07 numbers),
invalid for any other number, as VIES says of a number no member state knows (`"name": "---"`).
A fault, set with `POST /_control {"fault": "MS_UNAVAILABLE", "times": 2}` (times omitted: until
`{"fault": null}`), answers as VIES does when a member state's service is down or too busy:
`{"actionSucceed": false, "errorWrappers": [{"error": "MS_UNAVAILABLE"}]}`. `GET /_control` reads
the counters. Served in-process (`serve_app(vies_app())`) or alone with
`python -m devstack.vies_standin --port 8083`.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from devstack import kbo_data

DEFAULT_PORT = 8083
_KNOWN = {c.number.replace(".", ""): c for c in kbo_data.REAL_COMPANIES}


@dataclass
class _State:
    fault: str | None = None
    times: int | None = None  # None: until cleared
    requests: int = 0
    faulted: int = 0


def _valid(number: str) -> bool:
    if number in _KNOWN:
        return True
    # The sample's synthetic enterprises: 07 numbers with their mod 97 check digits.
    return (
        len(number) == 10
        and number.startswith("07")
        and number.isdigit()
        and int(number[8:]) == 97 - int(number[:8]) % 97
    )


def vies_app() -> FastAPI:
    app = FastAPI(title="VIES stand-in", openapi_url=None, docs_url=None, redoc_url=None)
    state = _State()

    @app.post("/check-vat-number")
    async def check(request: Request) -> JSONResponse:
        state.requests += 1
        if state.fault is not None:
            state.faulted += 1
            fault = state.fault
            if state.times is not None:
                state.times -= 1
                if state.times <= 0:
                    state.fault, state.times = None, None
            return JSONResponse(
                {"actionSucceed": False, "errorWrappers": [{"error": fault}]}, status_code=500
            )
        body: Any = await request.json()
        country = str(body.get("countryCode", "")) if isinstance(body, dict) else ""
        number = str(body.get("vatNumber", "")) if isinstance(body, dict) else ""
        if not country or not number:
            return JSONResponse(
                {"actionSucceed": False, "errorWrappers": [{"error": "INVALID_INPUT"}]},
                status_code=400,
            )
        valid = country == "BE" and _valid(number)
        company = _KNOWN.get(number)
        name = company.names[0][1] if company else ("---" if not valid else "SYNTHETIC")
        return JSONResponse(
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": datetime.now(UTC).isoformat(),
                "valid": valid,
                "name": name,
                "address": "---",
            }
        )

    @app.get("/_control")
    async def read_control() -> dict[str, Any]:
        return {
            "fault": state.fault,
            "times": state.times,
            "requests": state.requests,
            "faulted": state.faulted,
        }

    @app.post("/_control")
    async def control(request: Request) -> dict[str, Any]:
        body: Any = await request.json()
        if isinstance(body, dict) and "fault" in body:
            fault = body["fault"]
            state.fault = str(fault) if fault else None
            times = body.get("times")
            state.times = int(times) if isinstance(times, int) and times > 0 else None
        return await read_control()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.vies_standin", description="Stand-in for VIES (VAT check)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    args = parser.parse_args(argv)
    config = uvicorn.Config(vies_app(), host=args.host, port=args.port, log_config=None)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
