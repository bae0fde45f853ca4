"""Write a generated file's channels into the per-channel files of an Ardour region, in place.

    python mgb_fill.py GENERATED.wav SESSION/interchange/.../clip%L.wav SESSION/.../clip%R.wav

Headless Ardour (ardour7-lua) cannot import audio, so mgb_ardour.lua makes a region of the exact
span by bouncing an empty track and this helper fills the region's own files. Each target must
have the generated file's sample rate and frame count (the engine renders bar-exact at the
session rate); a mono result fills every target, a stereo one needs two. Targets keep their
format (Ardour's native one) and are written in place, so an open reader sees the new samples.
Errors go to stderr as ``musicgen-bridge: <code>: <message>`` with exit status 1.
"""

from __future__ import annotations

import sys

import soundfile as sf


def fill(generated: str, targets: list[str]) -> None:
    data, rate = sf.read(generated, dtype="float32", always_2d=True)
    if data.shape[1] not in (1, len(targets)):
        raise ValueError(f"{generated} has {data.shape[1]} channels; the region has {len(targets)}")
    for i, target in enumerate(targets):
        info = sf.info(target)
        if (info.samplerate, info.frames) != (rate, data.shape[0]):
            raise ValueError(f"{target} holds {info.frames} frames at {info.samplerate} Hz; "
                             f"the result has {data.shape[0]} at {rate} Hz")
        with sf.SoundFile(target, "r+") as fh:
            fh.seek(0)
            fh.write(data[:, min(i, data.shape[1] - 1)])


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: mgb_fill.py GENERATED TARGET...", file=sys.stderr)
        return 2
    try:
        fill(argv[0], argv[1:])
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"musicgen-bridge: bad_audio: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
