"""Every ``>>>`` example in the package runs (or says why not with ``# doctest: +SKIP``).

Each module is imported by its real name (``musicgen_bridge....``), as an installed wheel has it,
and its docstrings run with doctest. Examples run from a scratch folder, so relative paths in them
(``examples/melody/...``) are resolved against the repository root through ``REPO``.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import musicgen_bridge

REPO = Path(__file__).resolve().parents[1]
#: modules whose import needs an optional extra: skipped, saying so, when it is not installed
NEEDS = {"musicgen_bridge.engine.executors.ray_": "ray"}


def _modules() -> list[str]:
    names = ["musicgen_bridge"]
    for info in pkgutil.walk_packages(musicgen_bridge.__path__, "musicgen_bridge."):
        if not info.name.endswith("__main__"):  # running it would run the CLI
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_examples_in(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix, package in NEEDS.items():
        if name.startswith(prefix) and importlib.util.find_spec(package) is None:
            pytest.skip(f"{name} needs the optional {package!r} extra")
    module = importlib.import_module(name)
    monkeypatch.chdir(REPO)  # examples name files under the repository (examples/melody/...)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"


def test_every_skipped_example_says_why() -> None:
    """``# doctest: +SKIP`` comes after a comment that gives the reason: ``>>> x  # why  # doctest: +SKIP``."""
    bare = []
    for top in ("engine", "bridge"):
        for path in (REPO / top).rglob("*.py"):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "doctest: +SKIP" in line and not re.search(r"#[^#]*\w[^#]*#\s*doctest: \+SKIP", line):
                    bare.append(f"{path.relative_to(REPO)}:{i}")
    assert bare == []
