"""The protocol's reply fields and limits, declared once: docs/protocol.md's tables are generated
from here (bridge.protocol_doc) and tests/test_protocol_fields.py checks the running engine's replies
against the declarations.

A new reply field is one line in :data:`REPLIES`; a new limit one line in :func:`limit_rows`, reading
the constant the code enforces.

>>> [f.name for f in REPLIES["live_start"]][:2]
['session_id', 'window_bars']
>>> required_fields("cancel") == required_fields("status")
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..engine import limits
from ..engine.conditioning import midi_file, style_input
from ..engine.generation.fast.precision import PRECISIONS
from ..engine.generation.magnet import _ARRANGEMENTS, _SCORINGS
from ..engine.generation.magnet_options import MAX_STEPS
from ..engine.request import DECODERS, FORMATS, GENERATORS
from . import client_gate, handlers, osc_clients, osc_parse, osc_parts, osc_server, osc_tcp, outbox, parking, protocol


@dataclass(frozen=True)
class Field:
    """One field of a reply's content: JSON type, meaning, and whether every ok reply has it."""

    name: str
    type: str
    meaning: str
    always: bool = True


_JOB_STATUS = (
    Field("job_id", "string", "The job."),
    Field("kind", "string", "The request that made it: `generate`, `continue`, `codec_encode`, `codec_decode` "
          "or `codec_bounce`."),
    Field("state", "string", "`queued`, `running`, `done`, `error`, `cancelled` or `interrupted` (§7)."),
    Field("progress", "number", "0..1."),
    Field("result", "object", "When done: the `done` event's content without `job_id` (§6).", always=False),
    Field("error", "object", "When it failed: `code`, `message`, `details`.", always=False),
)
_JOB = (Field("job_id", "string", "The job; its events (§6) follow."),)

#: msg_type -> the fields of its ok reply's content, besides ``status`` ("ok") and an echoed ``request_id``
REPLIES: dict[str, tuple[Field, ...]] = {
    "ping": (
        Field("pong", "boolean", "Always true."),
        Field("protocol_version", "string", "The protocol version the engine speaks, e.g. `\"1.0\"`."),
        Field("engine_version", "string", "The engine's package version."),
        Field("endpoints", "object", "What the engine bound: `zmq`, `zmq_events`, `osc_udp`, `osc_tcp` (a client "
              "learns the event port here; absent transports are missing)."),
        Field("default_model", "string", "The model used when a request names none."),
        Field("device", "string", "`cpu`, `cuda:0`, `mps`, …"),
        Field("dtype", "string", "The fast generator's default decoding precision: `fp32`, `bf16`, `fp16` or `int8`."),
        Field("loaded", "list of strings", "Names of the models in memory."),
        Field("queue", "integer", "Jobs queued or running."),
        Field("output_root", "string", "The engine's output folder."),
        Field("executor", "object", "Where jobs run: `{\"name\": \"local\"}`, or for `serve --executor ray` "
              "`{\"name\": \"ray\", \"app\", \"replicas\", \"gpus_per_replica\", \"capacity\", \"running\": "
              "{job id or \"SESSION#INDEX\": replica id}}` (docs/scale-out.md)."),
        Field("backend", "object", "The same object as `executor` under its pre-1.0 name, kept through 1.x; "
              "read `executor`."),
    ),
    "models": (Field("models", "list of objects", "One per known model (table below)."),),
    "generate": _JOB,
    "continue": _JOB,
    "codec_encode": _JOB,
    "codec_decode": _JOB,
    "codec_bounce": _JOB,
    "live_start": (
        Field("session_id", "string", "The session; its events carry it."),
        Field("window_bars", "integer", "Bars per window."),
        Field("ahead_bars", "integer", "Bars kept ready ahead of the playhead."),
        Field("start_bar", "integer", "Where the first window lands (1-based)."),
    ),
    "live_stop": (
        Field("session_id", "string", "The session."),
        Field("running", "boolean", "False once stopped."),
        Field("windows", "integer", "Windows finished."),
        Field("generated_until_bar", "integer", "First bar with no audio."),
        Field("playhead_bar", "number", "The last reported playhead, 1-based."),
        Field("ahead_bars", "number", "Bars kept ready ahead of the playhead."),
        Field("underruns", "integer", "Underruns so far."),
        Field("error", "object", "Why the session ended, when it failed.", always=False),
        Field("replica", "string", "The Ray Serve replica that ran it.", always=False),
    ),
    "transport": (Field("sessions", "list of strings", "The live sessions it reached."),),
    "status": _JOB_STATUS,
    "cancel": _JOB_STATUS,
    "jobs": (Field("jobs", "list of objects", "The newest `limit` jobs of this run, newest first: each what `status` "
                   "replies for it (table above) plus `created` (Unix time in seconds, a number)."),),
    "live_list": (Field("sessions", "list of objects", "The live sessions, oldest first: each what `live_stop` "
                        "replies for it (`session_id`, `running`, `windows`, `generated_until_bar`, `playhead_bar`, "
                        "`ahead_bars`, `underruns`, and `error` when it ended with one)."),),
    "fetch": (
        Field("path", "string", "The file read."),
        Field("size", "integer", "Bytes in the whole file."),
        Field("offset", "integer", "Where this chunk starts."),
        Field("length", "integer", "Bytes in this chunk (the binary buffer)."),
        Field("eof", "boolean", "This chunk reaches the end of the file."),
        Field("sha256", "string", "Hex SHA-256 of the whole file."),
    ),
}


_UNSET: Any = object()


def _number(x: float) -> str:
    return "2⁶³−1" if x == 2**63 - 1 else str(x)


@dataclass(frozen=True)
class ReqField:
    """One request field as docs/protocol.md's table shows it. Where ``default``, ``lo``/``hi``,
    ``max_chars`` or ``choices`` are given, the table's cells are made from them and
    tests/test_protocol_fields.py checks them against ``GenerateRequest.from_dict``; the text
    arguments are used where they are not (a default the engine picks, a rule in words)."""

    name: str
    type: str
    unit: str
    default_text: str
    limit_text: str
    meaning: str
    default: Any = _UNSET
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    max_chars: int | None = None
    choices: tuple[str, ...] | None = None
    #: further accepted values, shown after ``choices`` but not read back as themselves (``auto``: the default)
    more_choices: tuple[str, ...] = ()
    #: where GenerateRequest keeps the value, when not at ``name`` on the request or its ``sampling``
    attr: str | None = None
    #: after a checked default: another model's default, e.g. " (MAGNeT: 0)"
    default_note: str = ""

    def default_cell(self) -> str:
        if self.default is _UNSET:
            return self.default_text
        value = json.dumps(self.default)
        return (f"`{value}`" if isinstance(self.default, (str, list)) else value) + self.default_note

    def limit_cell(self) -> str:
        text = self.limit_text
        if self.choices is not None:
            return ", ".join(f"`{c}`" for c in self.choices + self.more_choices)
        if self.lo is not None and self.hi is not None:
            rest = text[text.index(" ("):] if " (" in text else ""
            return f"{'> ' if self.lo_open else ''}{_number(self.lo)} – {_number(self.hi)}{rest}"
        if self.max_chars is not None:
            return f"≤ {self.max_chars} characters{text.partition('characters')[2]}"
        return text

    def value(self, req: Any) -> Any:
        """This field's value as ``GenerateRequest.from_dict`` parsed it into ``req`` (tuples as lists)."""
        if self.attr is not None:
            value = req
            for part in self.attr.split("."):
                value = getattr(value, part)
        else:
            value = getattr(req.sampling if hasattr(req.sampling, self.name) else req, self.name)
        return list(value) if isinstance(value, tuple) else value

    def row(self) -> tuple[str, ...]:
        return (f"`{self.name}`", self.type, self.unit, self.default_cell(), self.limit_cell(), self.meaning)


#: ``generate``'s fields (``continue`` and ``live_start`` take them too); a new field is one line here
GENERATE_FIELDS: tuple[ReqField, ...] = (
    ReqField('prompt', 'string', '', '`""`', '≤ 2000 characters',
             'What the music should be.',
             max_chars=limits.MAX_PROMPT_CHARS),
    ReqField('model', 'string', '', "the engine's default", 'a name from `models`',
             '`unknown_model` otherwise. AudioGen (`tiny-audiogen`, `facebook/audiogen-medium`) makes sound effects: same fields, its 16 kHz output resampled to `sample_rate`; no tempo hint is added and `conform` is off unless asked.'),
    ReqField('bpm', 'number or fraction string', 'quarter notes per minute', '120', '20 – 400',
             'The session tempo.',
             default=120, lo=20, hi=400),
    ReqField('time_signature', 'string `"N/D"` or `[N, D]`', '', '`"4/4"`', 'N 1–64; D 1, 2, 4, 8, 16, 32',
             ''),
    ReqField('bars', 'integer', 'bars', '4 (when `seconds` is absent)', '1 – 1024',
             'Length. A whole-number float (`2.0`) is accepted.',
             lo=1, hi=limits.MAX_BARS),
    ReqField('seconds', 'number or fraction string', 'seconds', '–', '> 0',
             'Length when `bars` is absent or null.'),
    ReqField('start_bar', 'number or fraction string', 'bars, 1-based', '1', '1 – 100000',
             "Where the clip lands; used in the file name and to round the clip's boundaries on the session's sample grid.",
             default=1, lo=1, hi=100000),
    ReqField('seed', 'integer', '', 'random', '0 – 2⁶³−1',
             'Same seed, same request, same model → same audio. The seed used is in the result.',
             lo=0, hi=2**63 - 1),
    ReqField('top_k', 'integer', 'tokens', '250', '0 – 4096 (0: off)',
             'Sampling.',
             default=250, lo=0, hi=4096, default_note=' (MAGNeT: 0)'),
    ReqField('top_p', 'number', '', '0', '0 – 1 (0: off)',
             'Sampling. For MAGNeT a `top_p` above 0 wins over `top_k`; sending `top_k` alone switches MAGNeT\'s top-p off.',
             default=0.0, lo=0, hi=1, default_note=' (MAGNeT: 0.9)'),
    ReqField('temperature', 'number', '', '1.0', '> 0 – 10',
             'Sampling. MAGNeT lowers it pass by pass unless `anneal_temperature` is false.',
             default=1.0, lo=0, hi=10, lo_open=True, default_note=' (MAGNeT: 3.0)'),
    ReqField('cfg', 'number', '', '3.0', '0 – 30',
             'Classifier-free guidance scale (≤ 1: off). For MAGNeT a constant scale (both `max_cfg` and `min_cfg`); sending it with either of those is `invalid_field`.',
             default=3.0, lo=0, hi=30),
    ReqField('greedy', 'boolean', '', 'false', '',
             'Always take the likeliest token.',
             default=False),
    ReqField('decoding_steps', 'list of integers, or a string `"20,10,10,10"`', 'passes', '', f'one per codebook (4), each 1 – {MAX_STEPS}',
             'MAGNeT only: parallel decoding passes per codebook. Progress counts these passes.',
             default=[20, 10, 10, 10], attr='sampling.magnet.decoding_steps'),
    ReqField('span_arrangement', 'string', '', '', '',
             'MAGNeT only: how masked spans are placed. `nonoverlap` drops the window\'s tail that is not a whole span (10 s → 9.96 s).',
             default='nonoverlap', choices=_ARRANGEMENTS, attr='sampling.magnet.span_arrangement'),
    ReqField('span_scoring', 'string', '', '', '',
             'MAGNeT only: how a span\'s confidence is scored.',
             default='max', choices=_SCORINGS, attr='sampling.magnet.span_scoring'),
    ReqField('max_cfg', 'number', '', '', '',
             'MAGNeT only: the guidance scale while everything is masked, annealed to `min_cfg` as nothing is.',
             default=10.0, lo=0, hi=100, attr='sampling.magnet.max_cfg_coef'),
    ReqField('min_cfg', 'number', '', '', '',
             'MAGNeT only: the guidance scale once nothing is masked.',
             default=1.0, lo=0, hi=100, attr='sampling.magnet.min_cfg_coef'),
    ReqField('anneal_temperature', 'boolean', '', '', '',
             'MAGNeT only: lower `temperature` as the passes of a codebook go by.',
             default=True, attr='sampling.magnet.anneal_temp'),
    ReqField('sample_rate', 'integer', 'Hz', '48000', '32000, 44100, 48000, 88200, 96000',
             'The session rate of the file.'),
    ReqField('channels', 'integer', '', '2', '1, 2',
             '',
             default=2, lo=1, hi=2),
    ReqField('format', 'string', '', '`"wav24"`', '`wav16`, `wav24`, `wav32f`, `flac`, `aiff`',
             'File format and bit depth.',
             default='wav24', choices=FORMATS),
    ReqField('output_dir', 'string (path)', '', "the engine's output root", '≤ 4096 characters; inside the output root or a `serve --allow-dir` folder',
             'Relative paths are relative to the output root. Else `path_not_allowed`.'),
    ReqField('output_name', 'string (file name)', '', 'from `name_pattern`: `<track>_<prompt>_bar<start_bar>_take<n>.<ext>`, `-2`, `-3` … appended when taken', '≤ 200 characters, no folders, not hidden',
             'The extension is added when missing; with `variations` > 1, `-take<n>` is appended. An existing file is `file_exists` (as an error event).',
             max_chars=limits.MAX_NAME_CHARS),
    ReqField('variations', 'integer', 'takes', '1', '1 – 8',
             'Takes decoded as one batch; take *n* uses seed `seed + 1000003·(n−1)`.',
             default=1, lo=1, hi=limits.MAX_VARIATIONS),
    ReqField('tempo_hint', 'boolean', '', 'true', '',
             'Append `", <bpm> bpm"` to the prompt, as MusicGen\'s training captions do.',
             default=True),
    ReqField('generator', 'string', '', '`"auto"`', '`auto`, `reference`, `fast`',
             "The token loop: `reference` (transformers' `generate`), `fast` (the static-cache loop; where unavailable, `unsupported`), `auto` (fast where available). Audiocraft families (AudioGen) run their own loop for `auto` and `reference`; `fast` is `unsupported` for them (error event). Its old name `backend` is accepted as an alias through 1.x; sending both with different values is `invalid_field`.",
             default='auto', choices=GENERATORS),
    ReqField('decoder', 'string', '', '', '',
             "Tokens to audio: `encodec` (the model's own codec) or `mbd` (Multi-Band Diffusion, `facebook/multiband-diffusion`; the built-in tiny MBD for built-in models): fewer codec artefacts, far slower (docs/benchmarks.md), for the final render. Each take is decoded alone with its own `seed` (the same seed gives the same audio); a stereo model's channels are decoded apart. Models whose codec MBD cannot decode (AudioGen's 16 kHz, any codec without MBD weights) are refused with `unsupported_decoder` and the reason, before any generation; absent MBD weights are `model_unavailable`. Applies to `generate` and `continue` (long-form too); `live_start` refuses `mbd` with `unsupported_decoder`. The sidecar's `decoder` object names the decoder and its weights.",
             default='encodec', choices=DECODERS),
    ReqField('dtype', 'string', '', "the engine's (`serve --dtype`)", '',
             'The decoding precision of the fast generator. `fp32` on an fp32 engine is the exact path (the reference\'s tokens); `bf16`, `fp16` and `int8` decode from converted copies of the weights (kept once made): faster where the device has the kernels, close to but not equal to fp32 (docs/benchmarks.md gives the measured differences). `int8` runs on the CPU only; on a GPU it is `unsupported`, as is any `dtype` other than the loaded one with `generator: reference` or with a model family that runs its own loop (AudioGen, MAGNeT). Any other value is `invalid_field`.',
             choices=PRECISIONS, more_choices=('auto',)),
    ReqField('retryable', 'boolean', '', 'false', '',
             'Run the job again if what runs it dies: after an engine crash (else it is reported `interrupted`), or on another replica when a Ray Serve replica dies.'),
    ReqField('melody', 'object', '', 'none', 'needs a melody model (`no_melody_support`)',
             'Melody conditioning, exactly one source: `{"notes": [{pitch, start_beats, duration_beats, velocity, muted}], "clip_start_beats", "clip_length_beats"}` from a DAW clip (beats are quarter notes, so the melody follows the session tempo exactly); `{"midi_file": {"path"} or {"buffer": i, "format": "mid"}, "track", "start", "end", "unit": "beats"/"seconds"}` from a MIDI file (type 0/1, tempo maps); or `{"audio": {"path"} or {"buffer": i}, "start_seconds", "end_seconds"}, "remove_stems": []` from audio. Optional `"mode"`: `highest` (default), `lowest` or `loudest` note of chords. The melody starts at bar 1 of the clip; shorter melodies repeat, longer ones are cut. Errors: `bad_midi` (corrupt, truncated, no notes in range), `bad_audio`, `path_not_allowed`, `unsupported` (stem removal without a local separation model), `no_melody_support`.'),
    ReqField('style', 'object or string (path)', '', 'none', 'needs a style model (`no_style_support`)',
             '"More like this" (MusicGen-Style): new music in the style of a few seconds of reference audio, with or without a `prompt` (no prompt: style only). `{"path"}` or `{"buffer": i, "format": ext}`, with optional `start_seconds`, `end_seconds` (the range of the file that is the style clip, e.g. a DAW item\'s; '
             f'≤ {style_input.MAX_STYLE_RANGE_S} s, default all of it), `excerpt_seconds` ({style_input.MIN_EXCERPT_S:g} – {style_input.MAX_EXCERPT_S:g}) or `excerpt_bars` (> 0, at the request\'s tempo; the excerpt the model hears, default 3 s; the model was trained on 1.5 – 4.5 s), `excerpt_start_seconds` or `excerpt_start_bars` (from the range\'s start; default the middle, moved to the nearest bar line of the request\'s tempo), `eval_q` (style codebooks 1 – the model\'s: 6 for `facebook/musicgen-style`, 4 for `tiny-style`; fewer follow the style more loosely; default 3) and `cfg_coef_beta` (> 0 – {style_input.MAX_BETA:g}: with a prompt, double guidance\'s weight of the text over the style; default 5). '
             'Unknown keys are `invalid_field`. Works with `continue` and `live_start` on a style model; a style with a `melody` is `no_style_support` (no model has both). Errors: `invalid_field` (field `style.<key>`), `path_not_allowed`, `bad_audio`, `no_style_support`.'),
)


def required_fields(msg_type: str) -> set[str]:
    return {f.name for f in REPLIES[msg_type] if f.always}


def all_fields(msg_type: str) -> set[str]:
    return {f.name for f in REPLIES[msg_type]}


def _mib(n: int) -> str:
    return f"{n // 2**20} MiB"


def limit_rows() -> list[tuple[str, str, str]]:
    """docs/protocol.md §10: (limit, value, what happens beyond it), each value read from its constant."""
    return [
        ("JSON part of a message", _mib(limits.MAX_JSON_BYTES), "`too_large`"),
        ("one ZeroMQ frame (buffers included)", _mib(limits.MAX_MESSAGE_BYTES), "connection dropped"),
        ("OSC datagram over UDP", f"{osc_server.SAFE_UDP_BYTES} bytes", "`too_large`"),
        ("OSC packet over TCP", _mib(osc_tcp.MAX_TCP_PACKET), "`too_large` (connection closed)"),
        ("messages in one OSC packet (bundles included) / bundle nesting",
         f"{osc_parse.MAX_MESSAGES} / {osc_parse.MAX_DEPTH}", "`too_large`"),
        ("direct answers to one OSC/UDP datagram",
         f"max({osc_server.AMPLIFICATION} × its bytes, {osc_server.SAFE_UDP_BYTES}) bytes", "withheld"),
        ("one request in `/mgb/part` pieces",
         f"{osc_parts.MAX_PARTS} pieces, {_mib(limits.MAX_JSON_BYTES)}, {osc_parts.PART_TTL_S:g} s",
         "`invalid_field` / `too_large`"),
        ("a named OSC client's silence before it is forgotten (its live sessions stopped)",
         f"{osc_clients.CLIENT_TTL_S:g} s", "–"),
        ("`prompt`", f"{limits.MAX_PROMPT_CHARS} characters", "`too_large`"),
        ("`bars`", f"{limits.MAX_BARS}", "`too_large`"),
        ("audio per request", f"{limits.MAX_SECONDS} s (longer than one model window runs as windows)", "`too_large`"),
        ("a `continue` item, decoded (channels × frames × 4 bytes, judged from its header at submit)",
         _mib(limits.MAX_DECODED_AUDIO_BYTES), "`too_large`"),
        ("one request's audio: takes × frames × channels × 4 bytes",
         f"{_mib(limits.MAX_REQUEST_AUDIO_BYTES)} (8 takes × 120 s × 96 kHz stereo is over)", "`too_large`"),
        ("`variations`", f"{limits.MAX_VARIATIONS}", "`invalid_field`"),
        ("`output_name`", f"{limits.MAX_NAME_CHARS} characters", "`too_large`"),
        ("queued + running jobs", f"{limits.MAX_QUEUE} (`serve --max-queue`)", "`busy`"),
        ("`status.wait`", f"{handlers.MAX_STATUS_WAIT_S:g} s", "`invalid_field`"),
        ("`status` requests waiting at once (all transports)", f"{parking.MAX_PARKED}", "`busy`"),
        ("OSC/TCP connections open at once", f"{osc_tcp.MAX_CONNECTIONS}", "`/mgb/error busy`, then closed"),
        ("OSC/TCP connection with no traffic either way", f"{osc_tcp.IDLE_S:g} s", "closed"),
        ("OSC/TCP bytes waiting for a client that does not read", _mib(osc_tcp.MAX_OUT_BYTES), "disconnected"),
        ("OSC/TCP packets from one connection waiting to be handled", f"{osc_tcp.MAX_QUEUED_FRAMES}", "`busy`"),
        ("OSC/UDP datagrams waiting for a handler", f"{osc_server.UDP_PENDING}", "`busy`"),
        ("`fetch.length`", _mib(handlers.FETCH_CHUNK_MAX), "`invalid_field`"),
        ("`jobs.limit`", f"{handlers.MAX_JOBS_LISTED}", "`invalid_field`"),
        ("JSON nesting", f"{limits.MAX_JSON_DEPTH} levels", "`too_large`"),
        ("melody notes (note list or MIDI file)", f"{limits.MAX_MELODY_NOTES}", "`too_large`"),
        ("a MIDI file: bytes / note-ons in all its tracks (counted before it is parsed)",
         f"{_mib(midi_file.MAX_MIDI_BYTES)} / {midi_file.MAX_FILE_NOTES}", "`too_large`"),
        ("live sessions at once", f"{limits.MAX_LIVE_SESSIONS}", "`too_many_sessions`"),
        ("a live session without `transport`", f"{limits.LIVE_IDLE_S:g} s", "ends: `error` event `cancelled`"),
        ("an idle ZeroMQ client's place, when all are taken", f"{client_gate.IDLE_CLIENT_S:g} s silent",
         "given to a new client"),
        ("`ahead_bars`", f"{limits.MAX_AHEAD_BARS}", "`invalid_field`"),
        ("ZeroMQ clients connected at once", f"{limits.MAX_CLIENTS} (`serve --max-clients`)", "`busy`"),
        ("ZeroMQ requests waiting for a handler",
         f"{limits.MAX_PENDING_REQUESTS} ({limits.MAX_PENDING_PER_CLIENT} per client)", "`busy`"),
        ("ZeroMQ replies queued for a client that does not read", f"{outbox.PEER_BACKLOG}", "the client is dropped"),
        ("a client's `request_id`", f"{protocol.MAX_REQUEST_ID_CHARS} characters", "`bad_envelope` (ZeroMQ) / `invalid_field` (OSC)"),
    ]
