"""The committed .amxd is what max_for_live/build_amxd.py makes from the readable sources."""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys

from daw.harness import M4L_DIR

spec = importlib.util.spec_from_file_location("build_amxd", M4L_DIR / "build_amxd.py")
build_amxd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_amxd)

DEVICE = M4L_DIR / "musicgen-bridge.amxd"


def test_the_committed_device_is_rebuilt_byte_for_byte(tmp_path):
    for name in ("musicgen-bridge.maxpat", *build_amxd.SCRIPTS):
        (tmp_path / name).write_bytes((M4L_DIR / name).read_bytes())
    assert build_amxd.build(tmp_path) == DEVICE.read_bytes(), "run: python max_for_live/build_amxd.py"
    check = subprocess.run([sys.executable, str(M4L_DIR / "build_amxd.py"), "--check"], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr


def test_the_device_holds_the_patch_and_every_script_the_patch_needs():
    blob = DEVICE.read_bytes()
    assert blob[:12] == b"ampf\x04\x00\x00\x00aaaa"  # an Audio Effect
    assert blob[12:24] == b"meta" + struct.pack("<II", 4, 7) and blob[24:28] == b"ptch"
    assert struct.unpack("<I", blob[28:32])[0] == len(blob) - 32  # the payload runs to the end
    kind, entries = build_amxd.unpack(blob)
    assert kind == "aaaa"
    device, *scripts = entries
    assert (device.name, device.kind, device.flag) == ("musicgen-bridge.amxd", "JSON", 0x11)
    assert device.data == (M4L_DIR / "musicgen-bridge.maxpat").read_bytes() + b"\0"
    patcher = json.loads(device.data[:-1])["patcher"]
    assert {s.name: s.data for s in scripts} == {n: (M4L_DIR / n).read_bytes() for n in build_amxd.SCRIPTS}
    assert all(s.kind == "TEXT" and s.flag == 0 for s in scripts)
    # every script the patch or a script names is inside, and nothing else
    needed = {b["box"]["text"].split()[1] for b in patcher["boxes"] if b["box"].get("text", "").startswith("js ")}
    for s in scripts:
        needed |= {m + ".js" for m in __import__("re").findall(r'require\("(\w+)"\)', s.data.decode())}
    assert needed == {s.name for s in scripts} == {d["name"] for d in patcher["dependency_cache"]}
    # an Audio Effect's patcher lists its parameters (what Live saves and automates) and its type
    assert patcher["project"]["amxdtype"] == int.from_bytes(b"aaaa", "big")
    enabled = {b["box"]["id"]: b["box"]["saved_attribute_attributes"]["valueof"] for b in patcher["boxes"]
               if b["box"].get("parameter_enable")}
    table = {k: v for k, v in patcher["parameters"].items() if k != "inherited_shortname"}
    assert table == {i: [v["parameter_longname"], v["parameter_shortname"], 0] for i, v in enabled.items()}


def test_pack_and_unpack_agree_on_offsets_and_padding():
    items = [build_amxd.Entry("a.amxd", "JSON", b"{}\0", 0x11), build_amxd.Entry("abc.js", "TEXT", b"x" * 5, 0)]
    blob = build_amxd.pack(items)
    assert build_amxd.unpack(blob) == ("aaaa", items)
    payload = blob[32:]
    assert payload[16:16 + 3] == b"{}\0" and payload[19:24] == b"xxxxx"  # files back to back from offset 16
    assert b"fnam\x00\x00\x00\x10abc.js\x00\x00" in payload  # names NUL-padded to a multiple of 4
