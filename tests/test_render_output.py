"""Where files go, what they are called, how they are written (never overwriting), preview."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from musicgen_bridge.engine.errors import EngineError
from musicgen_bridge.engine.paths import PathPolicy, default_output_root
from musicgen_bridge.engine.render import output as outmod
from musicgen_bridge.engine.render.naming import check_file_name, clip_name, safe_stem, slugify
from musicgen_bridge.engine.render.output import FORMATS, write_clip, write_sidecar
from musicgen_bridge.engine.render.playback import preview


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(EngineError) as info:
        call(*args, **kwargs)
    return info.value.code


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def sine(frames: int = 4800, channels: int = 2, rate: int = 48000) -> np.ndarray:
    t = np.arange(frames) / rate
    base = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([base, -base][:channels]).astype(np.float32)


# --- PathPolicy --------------------------------------------------------------------------------

def test_default_output_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_output_root() == tmp_path / "musicgen-bridge" / "output"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    if sys.platform.startswith("linux"):
        assert default_output_root() == Path.home() / ".local/share/musicgen-bridge/output"
    assert PathPolicy().output_root == default_output_root()


def test_policy_resolves_inside_root_and_allowed_dirs(tmp_path: Path) -> None:
    root, project = tmp_path / "out", tmp_path / "project"
    project.mkdir()
    policy = PathPolicy(root, [project])
    real_root = root.resolve()
    assert policy.resolve(None, "a.wav") == real_root / "a.wav"
    assert policy.resolve("drums/fills", "a.wav") == real_root / "drums" / "fills" / "a.wav"
    assert policy.resolve("drums/../bass", "a.wav") == real_root / "bass" / "a.wav"  # stays inside
    assert policy.resolve(str(project), "a.wav") == project.resolve() / "a.wav"
    assert listing(tmp_path) == ["project"]  # resolving writes nothing


@pytest.mark.parametrize(
    ("directory", "name"),
    [
        ("..", "a.wav"),
        ("../out-evil", "a.wav"),  # a sibling sharing the root's name as a prefix
        ("drums/../../x", "a.wav"),
        (None, "../a.wav"),
        ("/etc", "a.wav"),
        ("ABS_OUTSIDE", "a.wav"),
        (None, ".."),
    ],
)
def test_escapes_are_refused_and_nothing_is_written(tmp_path: Path, directory, name: str) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    if directory == "ABS_OUTSIDE":
        directory = str(outside)
    policy = PathPolicy(root)
    expected = "invalid_field" if name == ".." else "path_not_allowed"
    assert code_of(policy.resolve, directory, name) == expected
    assert listing(tmp_path) == ["out", "outside"]


def test_symlink_escapes_are_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    (outside / "victim.wav").write_bytes(b"precious")
    (root / "file-link.wav").symlink_to(outside / "victim.wav")
    policy = PathPolicy(root)
    assert code_of(policy.resolve, "link", "a.wav") == "path_not_allowed"
    assert code_of(policy.resolve, None, "file-link.wav") == "path_not_allowed"
    assert code_of(policy.resolve, str(root / "link" / "deeper"), "a.wav") == "path_not_allowed"
    assert listing(tmp_path) == ["out", "out/file-link.wav", "out/link", "outside", "outside/victim.wav"]
    assert (outside / "victim.wav").read_bytes() == b"precious"


# --- names -------------------------------------------------------------------------------------

def test_clip_name_fields() -> None:
    when = dt.datetime(2024, 5, 1, 13, 45, 9)
    name = clip_name("{track}_{prompt}_bar{bar}_take{take:02d}_{date}-{time}", track="Drums 1",
                     prompt="Lo-fi hip hop, dusty vinyl!", bar=17, take=3, when=when)
    assert name == "drums-1_lo-fi-hip-hop-dusty-vinyl_bar17_take03_20240501-134509"
    assert clip_name("{track}_{prompt}_take{take:02d}", prompt="bass", when=when) == "bass_take"
    assert clip_name("{prompt}", prompt="!!!") == "clip"
    assert clip_name("{prompt}", prompt="Nul") == "nul-clip"  # Windows device name
    assert len(slugify("x" * 500)) == 40
    assert code_of(clip_name, "{track}_{user}") == "invalid_field"
    assert code_of(clip_name, "{track") == "invalid_field"
    assert code_of(clip_name, "{bar:q}", bar=1) == "invalid_field"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_safe_stem(text: str) -> None:
    stem = safe_stem(text)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", stem) and len(stem) <= 130
    assert stem.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
    assert not stem.endswith((".", "-", "_")) and ".." not in stem


def test_explicit_names_are_checked() -> None:
    assert check_file_name("My Take 2.wav") == "My Take 2.wav"
    for bad in ("", ".hidden.wav", "a:b.wav", "con.wav", "x.wav.", "tab\there.wav"):
        assert code_of(check_file_name, bad) == "invalid_field", bad
    for escape in ("../x.wav", "sub/x.wav", "a\\b.wav", ".."):
        assert code_of(check_file_name, escape) == "path_not_allowed", escape


# --- writing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "subtype", "lsb"), [
    ("wav16", "PCM_16", 2.0**-15), ("wav24", "PCM_24", 2.0**-23), ("wav32f", "FLOAT", 0.0),
    ("flac", "PCM_24", 2.0**-23), ("aiff", "PCM_24", 2.0**-23),
])
def test_each_format_round_trips(tmp_path: Path, fmt: str, subtype: str, lsb: float) -> None:
    audio = sine(frames=4801)
    files = write_clip(audio, 44100, tmp_path / "take", fmt=fmt)
    assert files.audio.name == "take" + FORMATS[fmt].ext and files.sidecar is None
    info = sf.info(str(files.audio))
    assert (info.subtype, info.frames, info.channels, info.samplerate) == (subtype, 4801, 2, 44100)
    back, _ = sf.read(str(files.audio), dtype="float64", always_2d=True)
    assert np.max(np.abs(back.T - audio)) <= lsb
    assert listing(tmp_path) == [files.audio.name]


def test_integer_formats_clip_instead_of_wrapping(tmp_path: Path) -> None:
    hot = np.array([[1.5, -1.5, 0.25]], np.float32)
    back, _ = sf.read(str(write_clip(hot, 48000, tmp_path / "hot.wav", fmt="wav16").audio), dtype="float32")
    assert back[0] > 0.999 and back[1] <= -0.999 and abs(back[2] - 0.25) < 1e-4


def test_explicit_name_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "take.wav"
    target.write_bytes(b"user audio")
    assert code_of(write_clip, sine(), 48000, target) == "file_exists"
    assert target.read_bytes() == b"user audio"
    assert listing(tmp_path) == ["take.wav"]  # no temp file left
    (tmp_path / "b.wav.json").write_bytes(b"{}")
    assert code_of(write_clip, sine(), 48000, tmp_path / "b.wav", sidecar={"x": 1}) == "file_exists"
    assert listing(tmp_path) == ["b.wav.json", "take.wav"]


def test_auto_names_take_the_next_free_suffix(tmp_path: Path) -> None:
    (tmp_path / "take.wav").write_bytes(b"one")
    (tmp_path / "take-2.wav.json").write_bytes(b"{}")  # a stray sidecar also blocks a name
    files = write_clip(sine(), 48000, tmp_path / "take.wav", auto=True, sidecar={"seed": 7})
    assert files.audio.name == "take-3.wav" and files.sidecar.name == "take-3.wav.json"
    assert json.loads(files.sidecar.read_text()) == {"file": "take-3.wav", "seed": 7}
    assert (tmp_path / "take.wav").read_bytes() == b"one"
    assert listing(tmp_path) == ["take-2.wav.json", "take-3.wav", "take-3.wav.json", "take.wav"]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies_midway(file, data, *args, **kwargs) -> None:
        file.write(b"RIFF partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outmod.sf, "write", dies_midway)
    with pytest.raises(OSError):
        write_clip(sine(), 48000, tmp_path / "take.wav", sidecar={"a": 1})
    assert listing(tmp_path) == []
    with pytest.raises(ValueError):
        write_sidecar(tmp_path / "s.json", {"bad": float("nan")})
    assert listing(tmp_path) == []


def test_publish_without_hard_links_still_refuses_to_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src, dst, **kw) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(outmod.os, "link", no_links)
    files = write_clip(sine(), 48000, tmp_path / "a.wav")
    assert sf.info(str(files.audio)).frames == 4800
    before = files.audio.read_bytes()
    assert code_of(write_clip, sine(frames=100), 48000, files.audio) == "file_exists"
    assert files.audio.read_bytes() == before and listing(tmp_path) == ["a.wav"]


def test_sidecar_written_once(tmp_path: Path) -> None:
    path = write_sidecar(tmp_path / "take.wav.json", {"prompt": "dusty drums", "bpm": 92.5})
    assert json.loads(path.read_text()) == {"prompt": "dusty drums", "bpm": 92.5}
    before = path.read_bytes()
    assert code_of(write_sidecar, path, {"prompt": "other"}) == "file_exists"
    assert path.read_bytes() == before and listing(tmp_path) == ["take.wav.json"]


def test_unknown_format_is_invalid_field(tmp_path: Path) -> None:
    assert code_of(write_clip, sine(), 48000, tmp_path / "a", fmt="mp3") == "invalid_field"
    assert listing(tmp_path) == []


# --- preview -----------------------------------------------------------------------------------

def test_preview_without_sounddevice_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    assert preview(sine(), 48000) == "no preview: sounddevice is not installed (pip install sounddevice)"


def test_preview_without_device_or_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("sounddevice")

    def no_device(kind=None):
        raise RuntimeError("Error querying device -1")

    fake.query_devices = no_device
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert preview(sine(), 48000).startswith("no preview: no audio output device")

    def broken_import(name: str):
        raise OSError("PortAudio library not found")

    monkeypatch.setattr("musicgen_bridge.engine.render.playback.importlib.import_module", broken_import)
    assert preview(sine(), 48000) == "no preview: the PortAudio library is missing (PortAudio library not found)"


def test_preview_plays_frames_first(monkeypatch: pytest.MonkeyPatch) -> None:
    played = {}
    fake = types.ModuleType("sounddevice")
    fake.query_devices = lambda kind=None: {"name": "test-out"}
    fake.play = lambda data, samplerate, blocking: played.update(shape=data.shape, rate=samplerate)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    assert preview(sine(frames=24000), 48000) == "played 0.50 s on 'test-out'"
    assert played == {"shape": (24000, 2), "rate": 48000}


def test_package_exports_resolve() -> None:
    from musicgen_bridge.engine import render

    missing = [name for name in render.__all__ if not hasattr(render, name)]
    assert missing == []
    assert callable(render.preview) and render.Renderer.__module__ == "musicgen_bridge.engine.render.renderer"


@pytest.mark.parametrize("err", ["EXDEV", "ENOTSUP", "EOPNOTSUPP", "EPERM"])
def test_publish_falls_back_to_rename_where_hard_links_are_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       err: str) -> None:
    import errno
    import os

    code = getattr(errno, err)

    def no_links(src, dst, **kw) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(outmod.os, "link", no_links)
    files = write_clip(sine(), 48000, tmp_path / "a.flac", fmt="flac", sidecar={"a": 1})
    assert sf.info(str(files.audio)).format == "FLAC" and sf.info(str(files.audio)).frames == 4800
    assert json.loads(files.sidecar.read_text())["file"] == "a.flac"
    assert listing(tmp_path) == ["a.flac", "a.flac.json"]  # no temp file left
    before = files.audio.read_bytes()
    # auto naming takes the next free name; an explicit taken name is refused, the file untouched
    assert write_clip(sine(frames=100), 48000, tmp_path / "a.flac", fmt="flac", auto=True).audio.name == "a-2.flac"
    assert code_of(write_clip, sine(frames=100), 48000, files.audio, fmt="flac") == "file_exists"
    assert files.audio.read_bytes() == before and listing(tmp_path) == ["a-2.flac", "a.flac", "a.flac.json"]


def test_other_link_failures_are_not_taken_for_missing_hard_links(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def broken_disk(src, dst, **kw) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(outmod.os, "link", broken_disk)
    with pytest.raises(OSError) as info:
        write_clip(sine(), 48000, tmp_path / "a.wav")
    assert info.value.errno == errno.EIO and listing(tmp_path) == []


def test_a_folder_swapped_for_a_link_after_approval_is_not_written_through(tmp_path: Path) -> None:
    """The policy approved ``root/out``; before the write a local user puts a symbolic link to a
    folder outside in its place. The write is refused and nothing lands outside (or inside)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "out").mkdir(parents=True)
    outside.mkdir()
    approved = (root / "out").resolve() / "take.wav"  # what PathPolicy.resolve returned
    (root / "out").rmdir()
    (root / "out").symlink_to(outside, target_is_directory=True)
    with pytest.raises(EngineError) as err:
        write_clip(sine(), 48000, approved, sidecar={"seed": 1})
    assert err.value.code == "path_not_allowed"
    assert listing(outside) == []


def test_a_folder_above_swapped_for_a_link_is_caught_too(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (outside / "b").mkdir(parents=True)
    approved = (root / "a" / "b").resolve() / "take.wav"
    (root / "a" / "b").rmdir()
    (root / "a").rmdir()
    (root / "a").symlink_to(outside, target_is_directory=True)
    with pytest.raises(EngineError) as err:
        write_clip(sine(), 48000, approved)
    assert err.value.code == "path_not_allowed"
    assert listing(outside / "b") == []
