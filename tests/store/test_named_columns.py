"""The store's rule, read from its SQL (ast): every statement names the columns it reads and
returns. A `*` takes whatever the table has today, so a column added later (a secret, a personal
field) flows into rows and answers nobody chose to give it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `SELECT *`, `RETURNING *`, `SELECT a, *`, and any `alias.*` (a derived table's or a join's):
# a `*` that stands for columns. count(*) and a product (`a * b`) are not matched.
_STAR = re.compile(r"\b(?:SELECT|RETURNING)\s+\*|,\s*\*|\b\w+\.\*", re.IGNORECASE)


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes: prose about SQL is not SQL."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def stars(folder: Path) -> list[str]:
    """Each `*` standing for columns in the folder's string constants (f-strings' literal parts
    included), as `file:line: text` (an f-string's line may be where it opens)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if id(node) in skip:
                continue
            for match in _STAR.finditer(node.value):
                line = node.lineno + node.value.count("\n", 0, match.start())
                found.append(f"{path.relative_to(folder.parent)}:{line}: {match.group(0)}")
    return sorted(found)


def test_store_sql_names_its_columns() -> None:
    """No SELECT *, RETURNING * or alias.* in store/, a derived table's outer select included."""
    assert stars(ROOT / "store") == []


def test_column_rule_finds_every_planted_star(tmp_path: Path) -> None:
    """The scan sees each form of `*` in a tree made to have them, and only those."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "planted.py").write_text(
        '"""SELECT * in a docstring is prose."""\n'
        'A = "SELECT * FROM t"\n'
        'B = "UPDATE t SET x = 1 RETURNING *"\n'
        'C = f"SELECT * FROM ({A}) listed"\n'
        'D = "SELECT a, page.* FROM page"\n'
        'E = "SELECT a, * FROM t"\n'
        'F = "SELECT count(*), a * b FROM t"\n'
    )
    assert stars(store) == [
        "store/planted.py:2: SELECT *",
        "store/planted.py:3: RETURNING *",
        "store/planted.py:4: SELECT *",
        "store/planted.py:5: page.*",
        "store/planted.py:6: , *",
    ]
