"""The package layout keeps its promises: one import package, folders that say what they are,
every folder shipped in the wheel, one meaning per name (with the 1.x aliases still accepted)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

import musicgen_bridge
from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.request import GenerateRequest

ROOT = Path(__file__).resolve().parents[1]


def _package_dirs() -> list[Path]:
    return sorted(p.parent for top in ("engine", "bridge") for p in (ROOT / top).rglob("__init__.py"))


def test_every_folder_is_listed_in_pyproject_so_the_wheel_ships_it() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"musicgen_bridge"} | {"musicgen_bridge." + ".".join(d.relative_to(ROOT).parts) for d in _package_dirs()}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set()


def test_every_folder_says_in_one_line_what_it_is() -> None:
    for folder in _package_dirs():
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert doc and doc.strip(), f"{folder} has no docstring"


def test_engine_keeps_at_most_eight_top_level_modules() -> None:
    modules = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 8, sorted(modules)


def test_the_public_api_is_exported_from_the_package() -> None:
    from musicgen_bridge import Client, Engine, EngineConfig
    from musicgen_bridge import EngineError as Exported
    from musicgen_bridge import GenerateRequest as Req

    assert Exported is EngineError and Req is GenerateRequest
    for cls in (Client, Engine, EngineConfig, Exported, Req):
        assert cls.__doc__ and ">>>" in cls.__doc__, f"{cls.__name__} needs a docstring that shows use"
    assert set(musicgen_bridge.__all__) <= set(dir(musicgen_bridge))
    with pytest.raises(AttributeError):
        musicgen_bridge.NotAName  # noqa: B018 - the lazy exports raise like a module does


def test_generator_is_the_field_and_backend_its_alias() -> None:
    base = {"prompt": "x", "bars": 1, "bpm": 120}
    assert GenerateRequest.from_dict({**base, "generator": "fast"}).generator == "fast"
    old = GenerateRequest.from_dict({**base, "backend": "reference"})
    assert old.generator == "reference" and "backend" not in old.extra
    assert GenerateRequest.from_dict({**base, "backend": "fast", "generator": "fast"}).generator == "fast"
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict({**base, "backend": "fast", "generator": "reference"})
    assert err.value.code == "invalid_field" and err.value.details["field"] == "generator"
    with pytest.raises(EngineError) as err:
        GenerateRequest.from_dict({**base, "backend": "turbo"})
    assert err.value.code == "invalid_field"
    again = GenerateRequest.from_dict(old.to_dict())  # the sidecar form says "generator"
    assert again.generator == "reference" and old.to_dict()["generator"] == "reference"


def test_ping_names_the_executor_and_keeps_the_old_key(engine) -> None:
    info = engine.info()
    assert info["executor"] == {"name": "local"} and info["backend"] == info["executor"]
