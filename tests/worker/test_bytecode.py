"""The worker keeps the workflow modules' bytecode, even where writing it is turned off.

The sandbox imports a workflow's module afresh for every run; without bytecode each import
compiles the source again. Checked in a child interpreter with PYTHONDONTWRITEBYTECODE set, as in
our image: loading workflows/onboarding.py the way an import does writes no bytecode before
`keep_workflow_bytecode`, and writes it into the cache directory (not the source tree) after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

PROBE = """
import importlib.util, sys
from pathlib import Path
from worker.main import keep_workflow_bytecode

source = Path("workflows/onboarding.py").resolve()

def load() -> bool:
    spec = importlib.util.spec_from_file_location("probe_onboarding", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(importlib.util.cache_from_source(str(source))).exists()

assert sys.dont_write_bytecode
before = load()
cache = keep_workflow_bytecode()
after = load()
print(before, after, cache, importlib.util.cache_from_source(str(source)))
"""


def test_workflow_bytecode_is_kept_in_a_cache_of_its_own(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    before, after, cache, pyc = out
    assert (before, after) == ("False", "True")
    assert cache == str(tmp_path) and pyc.startswith(str(tmp_path))
