"""Path parameters of text type, shared by the routers: storable text (domain/text.py) by type.

A path segment may carry any percent-encoded character: `%00` decodes to a NUL that PostgreSQL
refuses (a 500, and the raw value in the error log). With these types the rule runs before the
handler, as for body fields: 422 naming the parameter. tests/api/test_text_parameters.py fails
on any str path or query parameter of any route that lacks it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from domain.text import Text

CatalogCode = Annotated[Text, Path(description="The entry's code, e.g. `essentials`")]
"""`{code}` of a plan, an integration or a folder tree."""

InvitationToken = Annotated[
    Text, Path(description="The signed token from the invitation link (the credential)")
]
"""`{token}` of the director's routes."""
