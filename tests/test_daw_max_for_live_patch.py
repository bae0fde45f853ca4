"""The Max for Live patch: every box and line joins real inlets and outlets, the scripts are ES5 for
Max's js, and the prompt box and parameters reach the request through its wiring (tests/daw/patch_runner.js)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from daw.harness import M4L_DIR
from daw.m4l_device import SCRIPTS, live_set, needs_node, requests, run_device, sent_json, ui

#: (inlets, outlets) of the objects the patch uses, from their Max reference pages
SIGNATURES = {"live.thisdevice": (1, 3), "udpsend": (1, 0), "udpreceive": (1, 1), "dspstate~": (1, 4),
              "pattr": (1, 3), "freebang": (0, 1),
              "prepend": (1, 1), "plugin~": (2, 2), "plugout~": (2, 0), "t": (1, None), "route": (1, None),
              "message": (2, 1), "comment": (1, 0), "textedit": (1, 4), "umenu": (1, 3), "live.numbox": (1, 2),
              "live.dial": (1, 2), "live.text": (1, 2), "slider": (1, 1)}


def signature(box: dict[str, Any]) -> tuple[int, int | None]:
    if box["maxclass"] != "newobj":
        return SIGNATURES[box["maxclass"]]
    words = box["text"].split()
    if words[0] in ("t", "trigger"):
        return 1, len(words) - 1
    if words[0] == "route":
        return 1, len(words)
    if words[0] == "js":
        source = (M4L_DIR / words[1]).read_text()
        return int(re.search(r"^inlets = (\d+);", source, re.MULTILINE)[1]), int(re.search(r"^outlets = (\d+);", source, re.MULTILINE)[1])
    return SIGNATURES[words[0]]


def test_patch_is_valid_and_every_line_joins_real_inlets_and_outlets() -> None:
    patch = json.loads((M4L_DIR / "musicgen-bridge.maxpat").read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patch["boxes"]}
    assert len(boxes) == len(patch["boxes"])  # ids are unique
    for box in boxes.values():
        ins, outs = signature(box)
        assert box["numinlets"] == ins, box["id"]
        assert outs is None or box["numoutlets"] == outs, box["id"]
        assert len(box.get("outlettype", [])) == box["numoutlets"], box["id"]
    scripts = [b["text"].split()[1] for b in boxes.values() if b["maxclass"] == "newobj" and b["text"].startswith("js ")]
    assert scripts == ["mgb_device.js"]
    for name in scripts + [d["name"] for d in patch["dependency_cache"]]:
        assert (M4L_DIR / name).is_file(), name
    assert "require(\"mgb_core\")" in (M4L_DIR / "mgb_device.js").read_text()
    for module in ("mgb_live", "mgb_link", "mgb_place"):
        assert f"require(\"{module}\")" in (M4L_DIR / "mgb_core.js").read_text()
    assert set(SCRIPTS) <= {d["name"] for d in patch["dependency_cache"]}
    for line in patch["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert src in boxes and dst in boxes, line
        assert 0 <= outlet < boxes[src]["numoutlets"], line
        assert 0 <= inlet < boxes[dst]["numinlets"], line
    # the parts the device cannot work without are wired
    joined = {(l["patchline"]["source"][0], l["patchline"]["destination"][0]) for l in patch["lines"]}
    js = next(i for i, b in boxes.items() if b.get("text", "").startswith("js "))
    send = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpsend"))
    recv = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpreceive"))
    assert (js, send) in joined and (recv, js) in joined
    plug_in = next(i for i, b in boxes.items() if b.get("text") == "plugin~")
    plug_out = next(i for i, b in boxes.items() if b.get("text") == "plugout~")
    assert (plug_in, plug_out) in joined  # the device passes the track's audio through
    assert (js, recv) in joined  # each instance moves udpreceive to its own reply port
    # the prompt box's "text <words>" loses its selector before the js sees it
    textedit = next(i for i, b in boxes.items() if b["maxclass"] == "textedit")
    route = next(i for i, b in boxes.items() if b.get("text") == "route text")
    prepend = next(i for i, b in boxes.items() if b.get("text") == "prepend prompt")
    assert {(textedit, route), (route, prepend), (prepend, js)} <= joined
    pattr = next(b for b in boxes.values() if b.get("text", "").startswith("pattr "))
    assert pattr["saved_attribute_attributes"]["valueof"]["parameter_invisible"] == 1  # stored, not automated
    for b in boxes.values():
        if b["maxclass"] == "live.text":  # action buttons: neither automated nor stored
            assert b["saved_attribute_attributes"]["valueof"]["parameter_invisible"] == 2, b["id"]


#: the height of a Max for Live device's face in Live's device chain
DEVICE_HEIGHT = 169


def overlap(a: list[float], b: list[float]) -> bool:
    """Two [x, y, width, height] rectangles share some area (touching edges do not count)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_no_two_boxes_overlap_in_the_patcher_or_on_the_device_face() -> None:
    # each merged feature (SFX, MAGNeT menu, More like this) brings boxes; they must not pile up
    patch = json.loads((M4L_DIR / "musicgen-bridge.maxpat").read_text())["patcher"]
    boxes = [b["box"] for b in patch["boxes"]]
    face = [b for b in boxes if b.get("presentation")]
    assert len(face) >= 20 and "obj-button-sfx" in {b["id"] for b in face}
    for key, group in (("patching_rect", boxes), ("presentation_rect", face)):
        clashes = [(a["id"], b["id"]) for i, a in enumerate(group) for b in group[i + 1:]
                   if overlap(a[key], b[key])]
        assert clashes == [], key
    for box in face:  # inside the device's face
        x, y, w, h = box["presentation_rect"]
        assert x >= 0 and y >= 0 and x + w <= patch["devicewidth"] and y + h <= DEVICE_HEIGHT, box["id"]


def test_device_javascript_is_es5_for_max_js() -> None:
    for name in SCRIPTS:
        code = re.sub(r"//[^\n]*", "", (M4L_DIR / name).read_text())
        code = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', code)  # string literals
        for pattern in (r"=>", r"\blet\b", r"\bconst\b", r"`", r"\bclass\b", r"\.\.\."):
            assert not re.search(pattern, code), f"{name} uses {pattern}, which Max's js object cannot run"


# -- the patch's wiring, run by tests/daw/patch_runner.js --------------------------------------

@needs_node
def test_the_prompt_box_sends_its_words_without_the_text_selector(tmp_path: Path) -> None:
    steps = [{"load": True}, {"type": "warm lofi keys"}, {"handle": ["/mgb/reply", "hello", "{}"]},
             {"click": "Generate"}]
    rec = run_device(tmp_path, live_set(), steps)["record"]
    (sent,) = sent_json(rec, "/mgb/generate")
    assert sent["prompt"] == "warm lofi keys"  # textedit says "text warm lofi keys"; route text drops "text"
    assert rec["stored"][-1] == ["warm", "lofi", "keys"]  # pattr prompt: saved with the Live set


@needs_node
def test_a_prompt_that_starts_with_bang_is_kept_whole(tmp_path: Path) -> None:
    steps = [{"load": True}, {"type": "bang bang drums"}, {"handle": ["/mgb/reply", "hello", "{}"]},
             {"click": "Generate"}]
    (sent,) = sent_json(run_device(tmp_path, live_set(), steps)["record"], "/mgb/generate")
    assert sent["prompt"] == "bang bang drums"


@needs_node
def test_an_empty_prompt_box_is_refused(tmp_path: Path) -> None:
    steps = [{"load": True}, {"type": "warm"}, {"type": ""}, {"handle": ["/mgb/reply", "hello", "{}"]},
             {"click": "Generate"}, {"click": "Live"}]
    rec = run_device(tmp_path, live_set(), steps)["record"]
    assert rec["status"][-2:] == ["Type a prompt first.", "Type a prompt first."]
    assert requests(rec) == []


@needs_node
def test_a_saved_prompt_comes_back_into_the_box_and_the_request(tmp_path: Path) -> None:
    steps = [{"restore": ["prompt", ["dusty", "tape", "choir"]]}, {"load": True},
             {"handle": ["/mgb/reply", "hello", "{}"]}, {"handle": ["generate"]}]
    rec = run_device(tmp_path, live_set(), steps)["record"]
    assert sent_json(rec, "/mgb/generate")[0]["prompt"] == "dusty tape choir"
    assert rec["stored"] == []  # restoring does not write the value back


@needs_node
def test_parameters_reach_the_request_through_the_patch(tmp_path: Path) -> None:
    steps = ui("keys") + [{"param": ["Bars", 3]}, {"param": ["Takes", 2]}, {"param": ["Temperature", 0.5]},
                          {"param": ["Model", "facebook/musicgen-melody"]}, {"handle": ["/mgb/reply", "hello", "{}"]},
                          {"click": "Generate"}]
    (sent,) = sent_json(run_device(tmp_path, live_set(), steps)["record"], "/mgb/generate")
    assert (sent["bars"], sent["variations"], sent["temperature"], sent["model"]) == \
        (3, 2, 0.5, "facebook/musicgen-melody")
    assert len(sent["melody"]["notes"]) == 12 and sent["sample_rate"] == 44100  # dspstate~ -> samplerate


@needs_node
def test_a_magnet_model_from_the_menu_keeps_its_own_temperature_unless_the_dial_moves(tmp_path: Path) -> None:
    def sent_for(temperature: float) -> dict[str, Any]:
        steps = ui("keys") + [{"param": ["Model", "facebook/magnet-small-10secs"]},
                              {"param": ["Temperature", temperature]},
                              {"handle": ["/mgb/reply", "hello", "{}"]}, {"click": "Generate"}]
        (sent,) = sent_json(run_device(tmp_path, live_set(), steps)["record"], "/mgb/generate")
        return sent

    at_default = sent_for(1.0)
    assert at_default["model"] == "facebook/magnet-small-10secs"
    assert "temperature" not in at_default and "melody" not in at_default  # MAGNeT: 3, annealed; no melody
    assert sent_for(0.5)["temperature"] == 0.5
