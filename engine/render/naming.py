"""Safe, readable file names for rendered clips.

    >>> clip_name("{track}_{prompt}_bar{bar}_take{take:02d}", track="Drums",
    ...           prompt="Lo-fi hip hop, dusty vinyl!", bar=17, take=3)
    'drums_lo-fi-hip-hop-dusty-vinyl_bar17_take03'

Every field is reduced to ASCII letters, digits and dashes, so names are safe on Linux,
macOS and Windows (no separators, no reserved device names, no leading dots).
"""

from __future__ import annotations

import datetime as _dt
import re
import string
import unicodedata

from ..errors import EngineError

DEFAULT_PATTERN = "{track}_{prompt}_bar{bar}_take{take}"
#: Fields a pattern may use. ``date`` is YYYYMMDD and ``time`` HHMMSS (local time).
FIELDS = ("track", "prompt", "bar", "take", "date", "time")
MAX_STEM = 120
PROMPT_SLUG_MAX = 40

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$"} \
    | {f"{p}{i}" for p in ("com", "lpt") for i in range(10)}
#: a format spec a naming pattern may use: fill/align, sign, zero padding, a width of at most two digits,
#: a precision of one digit and a type ("{take:02d}", "{bar:>3}"); "{take:>1000000000}" is refused
_SAFE_SPEC = re.compile(r"(?:.?[<>^=])?[+\- ]?0?\d{0,2}(?:\.\d)?[dsxXf]?")
#: one path component, in bytes (most file systems refuse longer: ENAMETOOLONG)
MAX_COMPONENT_BYTES = 255
_BAD_NAME_CHARS = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def is_windows_reserved(name: str) -> bool:
    """True for names Windows treats as devices, with or without an extension, trailing dots or spaces,
    or superscript digits (``con .wav``, ``CONIN$.wav``, ``COM¹.wav``, ``nul.``).

    >>> is_windows_reserved("COM\u00b9.wav"), is_windows_reserved("console.wav")
    (True, False)
    """
    stem = unicodedata.normalize("NFKC", name).split(".")[0].rstrip(" .").lower()
    return stem in _WINDOWS_RESERVED


def check_component(name: str, what: str = "file name") -> None:
    """A path component must encode as UTF-8 (no lone surrogates) within MAX_COMPONENT_BYTES bytes."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise EngineError("invalid_field", f"the {what} holds a character that is not valid Unicode text "
                          "(a lone surrogate)", field="name") from None
    if size > MAX_COMPONENT_BYTES:
        raise EngineError("invalid_field", f"the {what} is {size} bytes in UTF-8; the limit is {MAX_COMPONENT_BYTES}",
                          field="name")


def check_pattern(pattern: str) -> str:
    """Validate a naming pattern at submit: known fields only, small format specs, no conversions.

    >>> check_pattern("{track}_{take:02d}")
    '{track}_{take:02d}'
    """
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise EngineError("invalid_field", f"name pattern is malformed: {exc}", field="name_pattern") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FIELDS:
            raise EngineError("invalid_field", f"name pattern field {{{field[:40]}}} is unknown; use "
                              f"{', '.join(FIELDS)}", field="name_pattern")
        if conversion or not _SAFE_SPEC.fullmatch(spec or "") or "{" in (spec or ""):
            raise EngineError("invalid_field", f"name pattern field {{{field}}} has an unsupported format "
                              f"{(spec or conversion or '')[:40]!r}; widths up to 99 (e.g. {{take:02d}})",
                              field="name_pattern")
    return pattern


def slugify(text: str, max_len: int = PROMPT_SLUG_MAX) -> str:
    """Lower-case ASCII slug: accents folded, every other run of characters becomes one dash.

    >>> slugify("Café Crème — 120 BPM")
    'cafe-creme-120-bpm'
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:max_len].rstrip("-")


def clip_name(
    pattern: str = DEFAULT_PATTERN,
    *,
    track: str = "",
    prompt: str = "",
    bar: float | None = None,
    take: int | None = None,
    when: _dt.datetime | None = None,
) -> str:
    """A file stem (no extension) from ``pattern`` and the clip's fields.

    Unknown fields raise ``EngineError("invalid_field")``. Missing values (bar/take None,
    empty track) are left empty and the doubled separators collapse; an empty result
    becomes ``clip``.

        >>> clip_name("{date}-{prompt}", prompt="bass", when=_dt.datetime(2024, 5, 1))
        '20240501-bass'
    """
    when = when or _dt.datetime.now()
    values: dict[str, object] = {
        "track": slugify(track),
        "prompt": slugify(prompt),
        "bar": bar if bar is not None else "",
        "take": take if take is not None else "",
        "date": when.strftime("%Y%m%d"),
        "time": when.strftime("%H%M%S"),
    }
    check_pattern(pattern)
    return safe_stem(_format_lenient(pattern, values))


def _format_lenient(pattern: str, values: dict[str, object]) -> str:
    # A missing value ("" for bar/take) is left out, together with its format spec (":02d").
    out = []
    for literal, field, spec, _conv in string.Formatter().parse(pattern):
        out.append(literal)
        if field is None:
            continue
        value = values[field]
        if value == "":
            continue
        try:
            out.append(format(value, spec or ""))
        except (ValueError, TypeError) as exc:
            raise EngineError("invalid_field", f"name pattern {pattern!r}: {exc}") from exc
    return "".join(out)


def safe_stem(raw: str) -> str:
    """Make ``raw`` a safe file stem: allowed characters are ``a-z A-Z 0-9 - _ .``.

    >>> safe_stem("..//con")
    'con-clip'
    """
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", folded)
    stem = re.sub(r"([-_.])[-_.]+", r"\1", stem).strip("-_.")[:MAX_STEM].rstrip("-_.")
    if not stem:
        return "clip"
    if is_windows_reserved(stem):
        stem += "-clip"
    return stem


def check_file_name(name: str) -> str:
    """Validate a file name a client chose; return it unchanged or raise ``invalid_field``.

    Folders are not part of a name (they travel separately and are checked by PathPolicy),
    so a separator or ``..`` raises ``path_not_allowed``.
    """
    if "/" in name or "\\" in name or name == "..":
        raise EngineError(
            "path_not_allowed",
            f"file name {name!r} contains a folder part; give the folder separately",
            field="name",
        )
    check_component(name)
    bad = (
        not name
        or len(name) > 200
        or _BAD_NAME_CHARS.search(name) is not None
        or name.startswith(".")
        or name.endswith((" ", "."))
        or is_windows_reserved(name)
    )
    if bad:
        raise EngineError(
            "invalid_field",
            f"file name {name!r} is not safe; use letters, digits, spaces, '-', '_' and '.' "
            "with no folder part",
            field="name",
        )
    return name
