"""Folder-tree templates and the folder plan they give for one fiscal year."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.fiscal_calendar import FiscalYear, months
from domain.folders import FolderNode, FolderTreeTemplate, PlannedFolder, plan_folders
from tests.domain_helpers import fiscal_years

CALENDAR_2026 = FiscalYear.from_start(date(2026, 1, 1))


def _template(*folders: dict[str, Any]) -> FolderTreeTemplate:
    return FolderTreeTemplate.model_validate({"name": "Cabinet", "folders": list(folders)})


ACCOUNTING = _template(
    {
        "name": "Comptabilité",
        "per_fiscal_year": True,
        "children": [{"name": "Bilan"}, {"name": "Déclarations", "children": [{"name": "TVA"}]}],
    },
    {"name": "Juridique"},
)


def test_plan_folders_lists_template_folders_then_months() -> None:
    """Each folder comes with its template sub-folders first, then its month folders in order."""
    plan = plan_folders(ACCOUNTING, CALENDAR_2026, "fr")
    assert [(p.path, p.parent_path, p.kind, p.position) for p in plan[:6]] == [
        ("Comptabilité", None, "template", 0),
        ("Comptabilité/Bilan", "Comptabilité", "template", 0),
        ("Comptabilité/Déclarations", "Comptabilité", "template", 1),
        ("Comptabilité/Déclarations/TVA", "Comptabilité/Déclarations", "template", 0),
        ("Comptabilité/2026-01 Janvier", "Comptabilité", "month", 2),
        ("Comptabilité/2026-02 Février", "Comptabilité", "month", 3),
    ]
    assert plan[15] == PlannedFolder(
        path="Comptabilité/2026-12 Décembre",
        parent_path="Comptabilité",
        name="2026-12 Décembre",
        kind="month",
        position=13,
    )
    assert plan[16:] == [
        PlannedFolder(
            path="Juridique", parent_path=None, name="Juridique", kind="template", position=1
        )
    ]


def test_plan_folders_names_months_in_language() -> None:
    """Month folders take the client's language; an unknown one falls back to English."""
    assert plan_folders(ACCOUNTING, CALENDAR_2026, "nl")[4].name == "2026-01 Januari"
    assert plan_folders(ACCOUNTING, CALENDAR_2026, "xx")[4].name == "2026-01 January"


def test_plan_folders_follows_an_irregular_fiscal_year() -> None:
    """A 21.5-month first year gets one folder for each of its 22 calendar months."""
    fiscal_year = FiscalYear(start=date(2026, 3, 15), end=date(2027, 12, 31))
    names = [p.name for p in plan_folders(ACCOUNTING, fiscal_year, "en") if p.kind == "month"]
    assert len(names) == 22
    assert (names[0], names[-1]) == ("2026-03 March", "2027-12 December")


def test_plan_folders_reuses_template_paths_across_fiscal_years() -> None:
    """The next year's plan has the same template paths and only new month paths."""
    this_year = plan_folders(ACCOUNTING, CALENDAR_2026, "fr")
    next_year = plan_folders(ACCOUNTING, FiscalYear.from_start(date(2027, 1, 1)), "fr")
    templates = [p for p in this_year if p.kind == "template"]
    assert [p for p in next_year if p.kind == "template"] == templates
    months_this = {p.path for p in this_year if p.kind == "month"}
    months_next = {p.path for p in next_year if p.kind == "month"}
    assert not months_this & months_next


def test_plan_folders_of_empty_template_is_empty() -> None:
    """A template without folders plans nothing."""
    assert plan_folders(FolderTreeTemplate(name="Vide"), CALENDAR_2026, "fr") == []


def test_plan_folders_is_deterministic() -> None:
    """Planning twice, from equal inputs, gives the same list: workflow replays depend on it."""
    copy = FolderTreeTemplate.model_validate_json(ACCOUNTING.model_dump_json())
    assert plan_folders(copy, CALENDAR_2026, "fr") == plan_folders(ACCOUNTING, CALENDAR_2026, "fr")


@pytest.mark.parametrize(
    ("folders", "message"),
    [
        (
            [{"name": "Achats"}, {"name": "ACHATS"}],
            "unique among siblings.*'ACHATS' at the top level repeats 'Achats'",
        ),
        (
            [
                {
                    "name": "A",
                    "children": [{"name": "B", "children": [{"name": "x"}, {"name": "X"}]}],
                }
            ],
            "'X' in 'A/B' repeats 'x'",
        ),
        (
            [{"name": "Clé"}, {"name": "CLÉ"}],
            "'CLÉ' at the top level repeats 'Clé'",
        ),
        (
            # The same name, typed precomposed and decomposed.
            [{"name": "Comptabilit\u00e9"}, {"name": "Comptabilite\u0301"}],
            "repeats",
        ),
        (
            [{"name": "Compta", "per_fiscal_year": True, "children": [{"name": "2026-01 Jan"}]}],
            "'Compta/2026-01 Jan': names starting with YYYY-MM are reserved",
        ),
    ],
)
def test_template_rejects_clashing_sibling_names(
    folders: list[dict[str, Any]], message: str
) -> None:
    """Siblings that differ only by case or Unicode form, or mimic month folders, are refused."""
    with pytest.raises(ValidationError, match=message) as caught:
        FolderTreeTemplate.model_validate({"name": "T", "folders": folders})
    assert caught.value.errors()[0]["loc"] == ("folders",)


def test_template_allows_same_name_in_different_parents() -> None:
    """Uniqueness is among siblings only: 'Archives' may appear under two folders."""
    template = _template(
        {"name": "A", "children": [{"name": "Archives"}]},
        {"name": "B", "children": [{"name": "Archives"}]},
    )
    paths = [p.path for p in plan_folders(template, CALENDAR_2026, "fr")]
    assert paths == ["A", "A/Archives", "B", "B/Archives"]


def test_template_allows_dated_name_without_month_folders() -> None:
    """A YYYY-MM name is reserved only where month folders are generated."""
    template = _template({"name": "Compta", "children": [{"name": "2026-01 Reprise"}]})
    assert template.folders[0].children[0].name == "2026-01 Reprise"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "at least 1 character"),
        ("   ", "at least 1 character"),
        ("x" * 121, "at most 120 characters"),
        ("Achats/Ventes", "must not contain '/'"),
        ("Achats\tVentes", "must not contain control characters"),
    ],
)
def test_folder_node_rejects_bad_names(name: str, message: str) -> None:
    """Empty, over-long, path-breaking and control-character names are refused."""
    with pytest.raises(ValidationError, match=message):
        FolderNode(name=name)


def test_folder_node_strips_and_normalizes_name() -> None:
    """Surrounding spaces go and the name is NFC, so equal-looking names give equal paths."""
    assert FolderNode(name="  Comptabilite\u0301 ").name == "Comptabilit\u00e9"


def test_folder_node_accepts_max_length_name() -> None:
    """120 characters is allowed."""
    assert len(FolderNode(name="x" * 120).name) == 120


# Never shaped like a month folder ("2026-01 ..."): that rule has its own test above.
folder_names = st.text(
    alphabet=st.sampled_from("abcABCéÉ -_0123456789"), min_size=1, max_size=8
).filter(lambda name: name.strip() != "" and not re.match(r"[0-9]{4}-[0-9]{2}", name.strip()))


def _sibling_key(node: dict[str, Any]) -> str:
    return str(node["name"]).strip().casefold()


@st.composite
def folder_nodes(draw: st.DrawFn, depth: int = 2) -> dict[str, Any]:
    children = (
        draw(st.lists(folder_nodes(depth - 1), max_size=3, unique_by=_sibling_key))
        if depth > 0
        else []
    )
    return {
        "name": draw(folder_names),
        "per_fiscal_year": draw(st.booleans()),
        "children": children,
    }


@st.composite
def templates(draw: st.DrawFn) -> FolderTreeTemplate:
    """Random valid trees, up to three levels deep, with month folders anywhere."""
    folders = draw(st.lists(folder_nodes(), max_size=4, unique_by=_sibling_key))
    return FolderTreeTemplate.model_validate({"name": "T", "folders": folders})


def _count_per_fiscal_year(nodes: list[FolderNode]) -> int:
    return sum(node.per_fiscal_year + _count_per_fiscal_year(node.children) for node in nodes)


def _count_nodes(nodes: list[FolderNode]) -> int:
    return sum(1 + _count_nodes(node.children) for node in nodes)


@given(templates(), fiscal_years(), st.sampled_from(["fr", "nl", "en", "de"]))
def test_plan_folders_properties(
    template: FolderTreeTemplate, fiscal_year: FiscalYear, language: str
) -> None:
    """Parents precede children, paths are unique, counts match the template and the year."""
    plan = plan_folders(template, fiscal_year, language)
    seen: set[str] = set()
    for folder in plan:
        assert folder.parent_path is None or folder.parent_path in seen
        assert folder.path == (
            folder.name if folder.parent_path is None else f"{folder.parent_path}/{folder.name}"
        )
        seen.add(folder.path)
    assert len(seen) == len(plan)
    # Unique even for a case-insensitive file store.
    assert len({path.casefold() for path in seen}) == len(plan)
    kinds = Counter(folder.kind for folder in plan)
    assert kinds["month"] == _count_per_fiscal_year(template.folders) * len(months(fiscal_year))
    assert kinds["template"] == _count_nodes(template.folders)
    by_parent: dict[str | None, list[int]] = {}
    for folder in plan:
        by_parent.setdefault(folder.parent_path, []).append(folder.position)
    assert all(positions == list(range(len(positions))) for positions in by_parent.values())
