#!/usr/bin/env python3
"""Build musicgen-bridge.amxd, the device Live loads, from the readable sources beside this file.

    python max_for_live/build_amxd.py            # writes max_for_live/musicgen-bridge.amxd
    python max_for_live/build_amxd.py --check    # exit 1 when the committed file is stale

The result is a frozen Audio Effect: the patch and its five scripts live inside the one file, as
Max stores a frozen device's dependencies, so the producer drops it on a track and nothing else
is needed. The same sources always give the same bytes (fixed dates, fixed order), so CI can
rebuild it and compare. Standard library only.

Container (little-endian sizes outside, big-endian inside the frozen payload):

    "ampf" u32 4 "aaaa"                 device type: Audio Effect
    "meta" u32 4 u32 7                  (7: a frozen device)
    "ptch" u32 N payload:
        "mx@c" u32be 16 u64be F         F: where the directory starts, from the payload's start
        the files' bytes, one after another (the patcher first, as JSON ending in one NUL)
        "dlst" u32be size, then per file "dire" u32be size and fields, each a 4-letter tag,
        u32be size (header included) and data: type, fnam (NUL-padded to 4), sz32, of32, vers,
        flag, mdat (seconds since 1904)
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
PATCH = "musicgen-bridge.maxpat"
DEVICE = "musicgen-bridge.amxd"
SCRIPTS = ("mgb_device.js", "mgb_core.js", "mgb_live.js", "mgb_link.js", "mgb_place.js")
#: 2026-01-01 00:00 UTC as Mac time: every build stamps the same date
MDAT = 1767225600 + 2082844800
FLAG_DEVICE = 0x11  # the entry that is the device's own patcher
FROZEN = 7


class Entry(NamedTuple):
    name: str
    kind: str  # 4 characters: JSON, TEXT
    data: bytes
    flag: int


def _field(tag: str, data: bytes) -> bytes:
    return tag.encode("ascii") + struct.pack(">I", 8 + len(data)) + data


def _name(name: str) -> bytes:
    raw = name.encode("utf-8") + b"\0"
    return raw + b"\0" * (-len(raw) % 4)


def entries(folder: Path = HERE) -> list[Entry]:
    """What goes inside: the patcher (NUL-terminated JSON) and the scripts, byte for byte."""
    patch = (folder / PATCH).read_bytes()
    out = [Entry(DEVICE, "JSON", patch + b"\0", FLAG_DEVICE)]
    out += [Entry(name, "TEXT", (folder / name).read_bytes(), 0) for name in SCRIPTS]
    return out


def pack(items: list[Entry], device_type: str = "aaaa") -> bytes:
    """The .amxd bytes holding ``items`` (the first is the device's patcher)."""
    body, directory, offset = b"", b"", 16
    for e in items:
        fields = (_field("type", e.kind.encode("ascii")) + _field("fnam", _name(e.name)) +
                  _field("sz32", struct.pack(">I", len(e.data))) + _field("of32", struct.pack(">I", offset)) +
                  _field("vers", struct.pack(">I", 0)) + _field("flag", struct.pack(">I", e.flag)) +
                  _field("mdat", struct.pack(">I", MDAT)))
        directory += b"dire" + struct.pack(">I", 8 + len(fields)) + fields
        body += e.data
        offset += len(e.data)
    footer = b"dlst" + struct.pack(">I", 8 + len(directory)) + directory
    payload = b"mx@c" + struct.pack(">IQ", 16, 16 + len(body)) + body + footer
    return (b"ampf" + struct.pack("<I", 4) + device_type.encode("ascii") +
            b"meta" + struct.pack("<II", 4, FROZEN) +
            b"ptch" + struct.pack("<I", len(payload)) + payload)


def unpack(blob: bytes) -> tuple[str, list[Entry]]:
    """Read an .amxd written by :func:`pack` (or a frozen device saved by Max): (type, entries)."""
    chunks: dict[str, bytes] = {}
    pos = 0
    while pos < len(blob):
        tag = blob[pos:pos + 4].decode("ascii")
        (size,) = struct.unpack("<I", blob[pos + 4:pos + 8])
        chunks[tag] = blob[pos + 8:pos + 8 + size]
        pos += 8 + size
    payload = chunks["ptch"]
    if payload[:4] != b"mx@c":
        raise ValueError("not a frozen device")
    (footer_at,) = struct.unpack(">Q", payload[8:16])
    footer = payload[footer_at:]
    if footer[:4] != b"dlst" or struct.unpack(">I", footer[4:8])[0] != len(footer):
        raise ValueError("bad directory")
    items, pos = [], 8
    while pos < len(footer):
        (size,) = struct.unpack(">I", footer[pos + 4:pos + 8])
        fields, at = {}, pos + 8
        while at < pos + size:
            (fsize,) = struct.unpack(">I", footer[at + 4:at + 8])
            fields[footer[at:at + 4].decode("ascii")] = footer[at + 8:at + fsize]
            at += fsize
        start, length = struct.unpack(">I", fields["of32"])[0], struct.unpack(">I", fields["sz32"])[0]
        items.append(Entry(fields["fnam"].rstrip(b"\0").decode("utf-8"), fields["type"].decode("ascii"),
                           payload[start:start + length], struct.unpack(">I", fields["flag"])[0]))
        pos += size
    return chunks["ampf"].decode("ascii"), items


def build(folder: Path = HERE) -> bytes:
    return pack(entries(folder))


def main(argv: list[str]) -> int:
    target = HERE / DEVICE
    blob = build()
    if "--check" in argv:
        if not target.is_file() or target.read_bytes() != blob:
            print(f"{target} is stale: run python max_for_live/build_amxd.py", file=sys.stderr)
            return 1
        return 0
    target.write_bytes(blob)
    print(f"wrote {target} ({len(blob)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
