"""Text that PostgreSQL can store: the one string type every input model and query uses.

PostgreSQL `text` and `jsonb` refuse the NUL character (U+0000), and asyncpg cannot encode a lone
UTF-16 surrogate (JSON allows "\\ud800"; Python keeps it in a str). Accepted at the edge, either one
becomes a 500 on the request, or worse an activity that fails the same way on every retry. So both
are refused where text enters, with the field's name, by the type itself rather than by each route.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

NUL_MESSAGE = "must not contain the NUL character (U+0000)"
SURROGATE_MESSAGE = "must be valid Unicode text (no lone surrogate code points)"


def unstorable_reason(value: str) -> str | None:
    """Why `value` cannot be stored as PostgreSQL text, or None when it can."""
    if "\x00" in value:
        return NUL_MESSAGE
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def storable(value: str) -> str:
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    return value


def _storable_json(value: Any) -> Any:
    """Every string in a JSON value (keys included) is storable text."""
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                storable(key)
            _storable_json(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _storable_json(item)
    return value


class _SaysNoNul:
    """Puts the rule in the JSON schema too, so generated clients (and schemathesis) know it.

    Only in the schema: validating by this pattern would answer "should match pattern" where
    `storable` says what is wrong.
    """

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("pattern", r"^[^\u0000]*$")
        return schema


Text = Annotated[str, AfterValidator(storable), _SaysNoNul()]
"""Free text from a caller: anything printable, never NUL or a lone surrogate."""

JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
"""A caller's JSON object (e.g. an integration's settings) whose strings are all storable."""
