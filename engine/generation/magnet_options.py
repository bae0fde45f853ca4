"""MAGNeT's per-request settings: the request fields -> :class:`~.magnet.MagnetParams`.

MAGNeT-only fields: ``decoding_steps`` (one count per codebook), ``span_arrangement``
(``nonoverlap`` | ``stride1``), ``span_scoring`` (``max`` | ``prod``), ``max_cfg`` and ``min_cfg``
(guidance annealed from the first to the second), ``anneal_temperature``. The fields every model
reads apply too, but only when the request sends them, so an unsent one keeps MAGNeT's own default
(temperature 3, top-p 0.9, top-k off) rather than MusicGen's: ``temperature``, ``top_k``, ``top_p``,
``greedy`` (no sampling) and ``cfg`` (a constant guidance scale: both ends of the anneal).

>>> magnet_params({}).decoding_steps, magnet_params({}).temperature
((20, 10, 10, 10), 3.0)
>>> p = magnet_params({"decoding_steps": [8, 4, 4, 4], "span_arrangement": "stride1", "temperature": 1.5})
>>> p.decoding_steps, p.span_arrangement, p.temperature, p.top_p
((8, 4, 4, 4), 'stride1', 1.5, 0.9)
>>> magnet_params({"cfg": 4}).max_cfg_coef, magnet_params({"cfg": 4}).min_cfg_coef
(4.0, 4.0)
>>> magnet_params({"decoding_steps": "fast"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
musicgen_bridge.engine.errors.EngineError: invalid_field: decoding_steps must be a list of whole numbers, ...
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from ..errors import EngineError
from .magnet import MagnetParams

#: request fields only MAGNeT reads
MAGNET_FIELDS = ("decoding_steps", "span_arrangement", "span_scoring", "max_cfg", "min_cfg", "anneal_temperature")
#: request fields every model reads; MAGNeT takes them only when sent
SHARED_FIELDS = ("top_k", "top_p", "temperature", "cfg", "greedy")
MAX_STEPS = 1000
#: MagnetParams names -> the request's names, for error messages
_WIRE_NAMES = {"max_cfg_coef": "max_cfg", "min_cfg_coef": "min_cfg"}


def _bad(field: str, what: str) -> EngineError:
    return EngineError("invalid_field", f"{field} {what}", field=field)


def _number(d: dict[str, Any], name: str) -> float | None:
    value = d.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise _bad(name, f"must be a finite number, got {str(value)[:40]}")
    return float(value)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any double
        return False


def _whole(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    return isinstance(x, float) and math.isfinite(x) and x.is_integer()


def _steps(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # the CLI's and OSC clients' "20,10,10,10"
        try:
            value = [float(x) for x in value.split(",")[:65]]
        except ValueError:
            raise _bad("decoding_steps", f"must be a list of whole numbers, got {value[:100]!r}") from None
    if not isinstance(value, (list, tuple)) or not value or len(value) > 64 or not all(_whole(x) for x in value):
        raise _bad("decoding_steps", f"must be a list of whole numbers, got {str(value)[:100]}")
    steps = tuple(int(x) for x in value)
    if any(not 1 <= n <= MAX_STEPS for n in steps):
        raise _bad("decoding_steps", f"must be whole numbers from 1 to {MAX_STEPS}, got {str(list(steps))[:100]}")
    return steps


def magnet_params(d: dict[str, Any]) -> MagnetParams:
    """The MAGNeT settings a request dict asks for (audiocraft's defaults for what it leaves out).

    Checks types and ranges (``invalid_field`` naming the field); the number of ``decoding_steps``
    entries is checked against the model's codebooks when the model is known
    (:func:`check_for_model`).
    """
    base = MagnetParams()
    out: dict[str, Any] = {}
    steps = _steps(d.get("decoding_steps"))
    if steps is not None:
        out["decoding_steps"] = steps
    for name, key in (("span_arrangement", "span_arrangement"), ("span_scoring", "span_scoring")):
        if d.get(name) is not None:
            out[key] = d[name]
    for name, key in (("temperature", "temperature"), ("top_p", "top_p"), ("max_cfg", "max_cfg_coef"),
                      ("min_cfg", "min_cfg_coef")):
        value = _number(d, name)
        if value is not None:
            out[key] = value
    if d.get("top_k") is not None:
        top_k = d["top_k"]
        if isinstance(top_k, float) and top_k.is_integer():
            top_k = int(top_k)
        if not _whole(top_k):
            raise _bad("top_k", f"must be an integer, got {str(top_k)[:40]}")
        out["top_k"] = top_k
        if d.get("top_p") is None:
            out["top_p"] = 0.0  # asking for top-k means top-k: MAGNeT's top-p default would win over it
    cfg = _number(d, "cfg")
    if cfg is not None:
        if d.get("max_cfg") is not None or d.get("min_cfg") is not None:
            raise _bad("cfg", "is a constant guidance scale; MAGNeT anneals from max_cfg to min_cfg: send those, "
                       "or cfg alone")
        out["max_cfg_coef"] = out["min_cfg_coef"] = cfg
    anneal = d.get("anneal_temperature")
    if anneal is not None:
        if not isinstance(anneal, bool):
            raise _bad("anneal_temperature", f"must be true or false, got {anneal!r}")
        out["anneal_temp"] = anneal
    if d.get("greedy") is not None:
        out["use_sampling"] = not bool(d["greedy"])  # read as every model reads it
    params = MagnetParams(**{**asdict(base), **out})
    try:
        params.validate(len(params.decoding_steps))  # everything but the count against the model
    except EngineError as exc:
        field = str(exc.details.get("field", ""))
        wire = _WIRE_NAMES.get(field)
        if wire is None:
            raise
        raise _bad(wire, exc.message.split(" ", 1)[1]) from None
    return params


def check_for_model(params: MagnetParams, model: str, codebooks: int) -> None:
    """Refuse ``decoding_steps`` whose length is not the model's number of codebooks."""
    if len(params.decoding_steps) != codebooks:
        raise _bad("decoding_steps", f"needs one entry per codebook: {model} has {codebooks}, "
                   f"got {list(params.decoding_steps)}")


def sent_fields(d: dict[str, Any]) -> dict[str, Any]:
    """The MAGNeT and shared sampling fields a request sent (what its sidecar form repeats)."""
    return {k: d[k] for k in SHARED_FIELDS + MAGNET_FIELDS if d.get(k) is not None}
