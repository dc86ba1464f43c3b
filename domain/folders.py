"""Folder-tree templates and the plan of folders one client's fiscal year gets from a template.

A partner describes its folder tree once (`FolderTreeTemplate`); `plan_folders` turns it, for one
fiscal year and language, into a flat list of folders to create. Pure and deterministic, so the
workflow can compute the plan and activities can create it piece by piece.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.exact import ExactBool
from domain.fiscal_calendar import FiscalYear, month_folder_name, months
from domain.text import Text

__all__ = ["FolderNode", "FolderTreeTemplate", "PlannedFolder", "plan_folders"]

PATH_SEPARATOR: Final = "/"

# Month folders are named "YYYY-MM <month>"; a template folder beside them may not take a name of
# that shape, or it could collide with a month folder of some fiscal year in some language.
_MONTH_FOLDER_NAME: Final = re.compile(r"[0-9]{4}-[0-9]{2}(?:\s|$)")


def _check_folder_name(name: str) -> str:
    if PATH_SEPARATOR in name:
        raise ValueError(f"folder name must not contain {PATH_SEPARATOR!r}")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValueError("folder name must not contain control characters")
    return name


class FolderNode(BaseModel):
    """A folder of a template; with `per_fiscal_year`, it also gets one sub-folder per month."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    per_fiscal_year: ExactBool = False
    children: list[FolderNode] = Field(default_factory=list)

    @field_validator("name", mode="before")
    @classmethod
    def _normalize_name(cls, name: object) -> object:
        # NFC before the length check and the sibling comparison, so "é" typed as one character
        # or as "e" + combining accent gives the same path, hence the same idempotency key.
        return unicodedata.normalize("NFC", name) if isinstance(name, str) else name

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        return _check_folder_name(name)


class FolderTreeTemplate(BaseModel):
    """A partner's folder tree: top-level folders, each with its sub-folders."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: Text = Field(min_length=1, max_length=120)
    folders: list[FolderNode] = Field(default_factory=list)

    @field_validator("folders")
    @classmethod
    def _check_sibling_names(cls, folders: list[FolderNode]) -> list[FolderNode]:
        # Checked on the whole tree rather than per node, so the error can name the full path.
        _check_siblings(folders, parent_path=None, has_month_folders=False)
        return folders


def _join(parent_path: str | None, name: str) -> str:
    return name if parent_path is None else f"{parent_path}{PATH_SEPARATOR}{name}"


def _check_siblings(
    nodes: list[FolderNode], *, parent_path: str | None, has_month_folders: bool
) -> None:
    where = "at the top level" if parent_path is None else f"in {parent_path!r}"
    seen: dict[str, str] = {}
    for node in nodes:
        key = node.name.casefold()
        if key in seen:
            raise ValueError(
                f"folder names must be unique among siblings (ignoring case): "
                f"{node.name!r} {where} repeats {seen[key]!r}"
            )
        seen[key] = node.name
        if has_month_folders and _MONTH_FOLDER_NAME.match(node.name):
            raise ValueError(
                f"folder {_join(parent_path, node.name)!r}: names starting with YYYY-MM are "
                f"reserved for the month folders of {parent_path!r}"
            )
        _check_siblings(
            node.children,
            parent_path=_join(parent_path, node.name),
            has_month_folders=node.per_fiscal_year,
        )


class PlannedFolder(BaseModel):
    """One folder to create. `path` is unique within a plan: the key for "create it once"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    parent_path: str | None
    name: str
    kind: Literal["template", "month"]
    position: int = Field(ge=0, description="Order among its siblings, from 0")


def plan_folders(
    tree: FolderTreeTemplate, fiscal_year: FiscalYear, language: str
) -> list[PlannedFolder]:
    """Every folder the template gives for this fiscal year, each parent before its children.

    Depth-first in template order: a folder, then its template sub-folders (positions 0..k-1),
    then, if `per_fiscal_year`, its month folders in calendar order (positions k..). Template
    folders come first so their positions stay the same whatever the fiscal year; the month
    folders of another fiscal year get new paths, and the template folders the same paths, so
    planning the next year and creating by path reuses the existing template folders.
    """
    month_names = [month_folder_name(m.year, m.month, language) for m in months(fiscal_year)]
    planned: list[PlannedFolder] = []

    def visit(nodes: list[FolderNode], parent_path: str | None) -> None:
        for position, node in enumerate(nodes):
            path = _join(parent_path, node.name)
            planned.append(
                PlannedFolder(
                    path=path,
                    parent_path=parent_path,
                    name=node.name,
                    kind="template",
                    position=position,
                )
            )
            visit(node.children, path)
            if node.per_fiscal_year:
                planned.extend(
                    PlannedFolder(
                        path=_join(path, name),
                        parent_path=path,
                        name=name,
                        kind="month",
                        position=len(node.children) + offset,
                    )
                    for offset, name in enumerate(month_names)
                )

    visit(tree.folders, parent_path=None)
    return planned
