"""Derive the ReaScript (Lua) argument counts of every REAPER API function from the SDK header.

    python tests/daw/make_reaper_api.py path/to/reaper_plugin_functions.h SOURCE COMMIT > tests/daw/reaper_api.txt

The header declares each function once, as ``RET (*REAPERAPI_FUNCNAME(Name))(PARAMS);``. ReaScript
maps C parameters to Lua by their names (the SDK's naming convention): a parameter named ``...Out``,
``...OutOptional`` or ``...OutNeedBig`` is returned, not passed; ``..._sz`` buffer sizes are implied;
a parameter with ``InOptional`` (or a bare ``Optional``) may be left off at the end. Everything else,
``...InOut`` included, is a Lua argument. tests/daw/reaper_mock.lua refuses calls outside
[min, max] arguments and names not listed.
"""

from __future__ import annotations

import re
import sys

PROTO = re.compile(r"REAPERAPI_FUNCNAME\((\w+)\)\)\((.*)\);\s*$")
# Lua-only functions REAPER adds to the `reaper` table for scripts (not in the C header); from the
# ReaScript documentation: name, min args, max args
LUA_ONLY = [("defer", 1, 1), ("atexit", 1, 1), ("runloop", 1, 1), ("get_action_context", 0, 0),
            ("set_action_options", 1, 1)]


def lua_inputs(params: str) -> tuple[int, int, list[str]]:
    names = []
    for p in [p.strip() for p in params.split(",") if p.strip() and p.strip() != "void"]:
        names.append(re.split(r"[\s*&]+", p)[-1])
    inputs = []
    for name in names:
        if name.endswith("_sz") and name[:-3] in names:
            continue  # a buffer's size: implied in Lua
        if re.search(r"Out(Optional)?(NeedBig)?(Optional)?$", name) and not re.search(r"InOut", name):
            continue  # returned, not passed
        inputs.append(name)
    required = 0
    for i, name in enumerate(inputs):
        if "Optional" not in name:
            required = i + 1
    return required, len(inputs), inputs


def main(header: str, source: str, commit: str) -> None:
    rows = []
    with open(header, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = PROTO.search(line)
            if m and not m.group(1).startswith("__"):  # internal helpers with function-pointer parameters
                lo, hi, names = lua_inputs(m.group(2))
                rows.append((m.group(1), lo, hi, " ".join(names)))
    print(f"# REAPER API: Lua argument counts, derived by tests/daw/make_reaper_api.py from {source}")
    print(f"# at commit {commit} (sdk/reaper_plugin_functions.h), plus REAPER's Lua-only script functions")
    print("# (defer, atexit, runloop, get_action_context, set_action_options; ReaScript documentation).")
    print("# name<TAB>min args<TAB>max args<TAB>Lua argument names")
    for name, lo, hi in LUA_ONLY:
        rows.append((name, lo, hi, "-"))
    for name, lo, hi, names in sorted(set(rows), key=lambda r: r[0].lower()):
        print(f"{name}\t{lo}\t{hi}\t{names}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
