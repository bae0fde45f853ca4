"""Write the ReaPack repository index (index.xml) for the Reaper scripts, from the files themselves.

    python daw_scripts/reaper/make_reapack_index.py                 # writes daw_scripts/reaper/index.xml
    python daw_scripts/reaper/make_reapack_index.py --url-base file:///home/you/musicgen-bridge/ --check

One package (category "MusicGen") holds every file of this folder the scripts need: each
`musicgen-bridge_*.lua` is an action (``main="main"``: listed in Reaper's action list), `mgb/*.lua`
and `mgb_live_relay.py` are installed beside them. The version is the one every action's
``@version`` header gives, which must equal the package's ``__version__`` (the repository root's
``__init__.py``, which pyproject.toml reads too); each action's ``@description`` is
its name. Sources are ``--url-base`` + the file's path in the repository (URL-quoted).
``--check`` exits 1 when index.xml is not what this script would write.
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# a placeholder host that can never resolve (.invalid): publish with --url-base set to where the
# repository's files are served, or a file:// URL of a local checkout
DEFAULT_URL_BASE = "https://musicgen-bridge.invalid/raw/v{version}/"
PACKAGE = "musicgen-bridge_Generate from selected MIDI item.lua"


def header(path: Path, tag: str) -> str | None:
    m = re.search(rf"^-- @{tag} (.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return m.group(1).strip() if m else None


def project_version() -> str:
    """``musicgen_bridge.__version__``, read from the source: this script imports nothing of the package."""
    m = re.search(r'^__version__ = "([^"]+)"', (ROOT / "__init__.py").read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise SystemExit("__init__.py has no __version__")
    return m.group(1)


def package_files() -> tuple[list[Path], list[Path]]:
    actions = sorted(HERE.glob("musicgen-bridge_*.lua"))
    support = sorted(HERE.glob("mgb/*.lua")) + [HERE / "mgb_live_relay.py"]
    return actions, support


def build(url_base: str) -> str:
    version = project_version()
    actions, support = package_files()
    for a in actions:
        if header(a, "version") != version:
            raise SystemExit(f"{a.name}: @version {header(a, 'version')!r} differs from the package's {version!r}")
        if not header(a, "description"):
            raise SystemExit(f"{a.name}: no @description")
    base = url_base.format(version=version)
    index = ET.Element("index", version="1", name="musicgen-bridge")
    cat = ET.SubElement(index, "category", name="MusicGen")
    pkg = ET.SubElement(cat, "reapack", name=PACKAGE, type="script",
                        desc="musicgen-bridge: MusicGen in Reaper (generate, continue, live)")
    ver = ET.SubElement(pkg, "version", name=version, author="musicgen-bridge contributors")
    for path in actions + support:
        rel = path.relative_to(HERE).as_posix()
        attrs = {"file": rel}
        if path in actions:
            attrs["main"] = "main"
        src = ET.SubElement(ver, "source", attrs)
        src.text = base + quote(path.relative_to(ROOT).as_posix())
    ET.SubElement(ver, "changelog").text = f"musicgen-bridge {version}"
    ET.indent(index, "  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(index, encoding="unicode") + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url-base", default=DEFAULT_URL_BASE, help="URL the repository's files are served under "
                   "({version} is replaced); default: a placeholder to replace when publishing")
    p.add_argument("--out", default=str(HERE / "index.xml"))
    p.add_argument("--check", action="store_true", help="only compare with --out; exit 1 when it differs")
    args = p.parse_args(argv)
    text = build(args.url_base)
    out = Path(args.out)
    if args.check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        if not same:
            print(f"{out} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
