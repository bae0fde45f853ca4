"""Issue 19: the ReaPack index of the Reaper scripts is generated from the files and matches them."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
REAPER = ROOT / "daw_scripts" / "reaper"
MAKER = REAPER / "make_reapack_index.py"


def version_of_project() -> str:
    import musicgen_bridge

    return musicgen_bridge.__version__


def test_committed_index_is_what_the_generator_writes() -> None:
    proc = subprocess.run([sys.executable, str(MAKER), "--check"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr


def test_index_lists_every_action_and_every_file_they_load() -> None:
    root = ET.parse(REAPER / "index.xml").getroot()  # well-formed
    assert root.tag == "index" and root.get("version") == "1"
    (pkg,) = root.iter("reapack")
    assert pkg.get("type") == "script"
    (ver,) = pkg.findall("version")
    assert ver.get("name") == version_of_project()
    sources = {s.get("file"): s for s in ver.findall("source")}
    actions = sorted(p.name for p in REAPER.glob("musicgen-bridge_*.lua"))
    # the count comes from disk; these name the actions the issues shipped, so a lost file fails here
    for shipped in ("Generate from selected MIDI item", "Continue selected audio item", "Generate sound effect",
                    "More like this (selected audio item)", "Settings", "Cancel"):
        assert f"musicgen-bridge_{shipped}.lua" in actions, shipped
    assert sorted(f for f, s in sources.items() if s.get("main") == "main") == actions
    for name in actions:  # every action's header agrees with the index
        text = (REAPER / name).read_text()
        assert re.search(rf"^-- @version {re.escape(ver.get('name'))}$", text, re.MULTILINE), name
    # every file an action or module loads is shipped, and every shipped file exists
    needed = set()
    for lua in [*REAPER.glob("musicgen-bridge_*.lua"), *REAPER.glob("mgb/*.lua")]:
        prefix = "mgb/" if lua.parent.name == "mgb" else ""
        for ref in re.findall(r'"((?:mgb/)?[\w.]+\.(?:lua|py))"', lua.read_text()):
            if ref.endswith((".lua", ".py")) and (REAPER / (prefix + ref)).is_file():
                needed.add(prefix + ref)
    assert needed and needed <= set(sources), needed - set(sources)
    for file, src in sources.items():
        assert (REAPER / file).is_file(), file
        assert unquote(src.text).endswith("daw_scripts/reaper/" + file)


def test_a_local_checkout_index_points_at_real_files(tmp_path: Path) -> None:
    out = tmp_path / "index.xml"
    base = ROOT.as_uri() + "/"
    subprocess.run([sys.executable, str(MAKER), "--url-base", base, "--out", str(out)], check=True)
    urls = [s.text for s in ET.parse(out).getroot().iter("source")]
    # every action, every module and the live relay, counted on disk (a new action needs no edit here)
    assert len(urls) == len(list(REAPER.glob("musicgen-bridge_*.lua"))) + len(list(REAPER.glob("mgb/*.lua"))) + 1
    for url in urls:
        assert Path(unquote(urlparse(url).path)).is_file(), url


def test_a_version_mismatch_is_refused(tmp_path: Path) -> None:
    # the generator reads the versions from the files: a stale header stops it
    copy = tmp_path / "repo"
    (copy / "daw_scripts").mkdir(parents=True)
    subprocess.run(["cp", "-r", str(REAPER), str(copy / "daw_scripts")], check=True)
    (copy / "__init__.py").write_text((ROOT / "__init__.py").read_text().replace(
        f'__version__ = "{version_of_project()}"', '__version__ = "9.9.9"', 1))
    proc = subprocess.run([sys.executable, str(copy / "daw_scripts/reaper/make_reapack_index.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "differs from the package's '9.9.9'" in proc.stderr
