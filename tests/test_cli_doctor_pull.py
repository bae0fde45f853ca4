"""Issue 21: ``models pull`` (huggingface_hub against a fake hub on loopback: success, resume after a
dropped connection, and the clear failure without a hub) and ``doctor`` against a running engine."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from serve_process import REPO, cli, free_port

from musicgen_bridge import __version__
from musicgen_bridge.bridge.cli import main

COMMIT = "c0ffee" + "0" * 34
FILES = {"config.json": b'{"model_type": "musicgen"}', "model.safetensors": bytes(range(256)) * 98304,  # 24 MiB: more than one 10 MiB download chunk
         "README.md": b"not needed by transformers"}


class FakeHub(BaseHTTPRequestHandler):
    """The few hub endpoints snapshot_download reads: revision info, the file tree, file bytes. The
    first download of model.safetensors breaks off halfway, as a dropped connection would."""

    requests: ClassVar[list[tuple[str, str, str]]] = []  # (method, path, Range header)
    broke_once = False

    def log_message(self, *_: object) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str], head: bool, send: int | None = None) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body[:send])

    def _route(self, head: bool) -> None:
        path = self.path.split("?")[0]
        FakeHub.requests.append((self.command, path, self.headers.get("Range", "")))
        if path.startswith("/api/models/") and "/revision/" in path:
            body = json.dumps({"id": "facebook/musicgen-small", "sha": COMMIT,
                               "siblings": [{"rfilename": name} for name in FILES]}).encode()
            return self._reply(200, body, {"Content-Type": "application/json"}, head)
        if path.startswith("/api/models/") and "/tree/" in path:
            body = json.dumps([{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                               for name, data in FILES.items()]).encode()
            return self._reply(200, body, {"Content-Type": "application/json"}, head)
        if "/resolve/" in path:
            name = path.split("/resolve/")[1].split("/", 1)[1]
            data = FILES[name]
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                       "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
            start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
            if start:
                return self._reply(206, data[start:], {**headers, "Content-Range":
                                                       f"bytes {start}-{len(data) - 1}/{len(data)}"}, head)
            if not head and name == "model.safetensors" and not FakeHub.broke_once:
                FakeHub.broke_once = True
                self._reply(200, data, headers, head, send=len(data) // 2)
                self.close_connection = True
                return None
            return self._reply(200, data, headers, head)
        return self._reply(404, b"", {}, head)

    def do_GET(self) -> None:
        self._route(False)

    def do_HEAD(self) -> None:
        self._route(True)


@pytest.fixture
def hub(monkeypatch):
    FakeHub.requests, FakeHub.broke_once = [], False
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MGB_OFFLINE", raising=False)
    yield srv
    srv.shutdown()


def test_pull_downloads_what_transformers_needs_and_resumes_a_broken_download(hub, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = cli("models", "pull", "facebook/musicgen-small", "--cache-dir", str(cache))
    assert first.returncode == 0, first.stderr  # the dropped connection was resumed within the run
    folder = Path(first.stdout.split()[-1])
    assert folder == cache / "models--facebook--musicgen-small" / "snapshots" / COMMIT
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no README
    assert (folder / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    ranges = [r for method, path, r in FakeHub.requests if path.endswith("model.safetensors") and r]
    assert ranges and int(ranges[0].split("=")[1].split("-")[0]) > 0  # it asked for the rest, not all again
    assert FakeHub.broke_once
    listed = cli("models", "--json", "--cache-dir", str(cache), "--server", f"tcp://127.0.0.1:{free_port(pair=True)}")
    assert {r["name"]: r["cached"] for r in json.loads(listed.stdout)}["facebook/musicgen-small"] is True


def test_pull_without_a_hub_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    result = cli("models", "pull", "facebook/musicgen-small", "--cache-dir", str(tmp_path))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("musicgen-bridge: model_unavailable: could not download facebook/musicgen-small into ")
    assert "run the same command again" in last and "Traceback" not in result.stderr


def test_pull_of_a_builtin_or_unknown_model(capsys) -> None:
    assert main(["models", "pull", "tiny"]) == 0
    assert capsys.readouterr().out.strip() == "tiny is built into musicgen-bridge (made in code): nothing to download"
    assert main(["models", "pull", "facebook/musicgen-huge"]) == 2
    assert capsys.readouterr().err.startswith("musicgen-bridge: unknown_model: ")


def test_the_reaper_scripts_carry_the_package_version() -> None:
    init = (REPO / "daw_scripts" / "reaper" / "mgb" / "init.lua").read_text()
    assert f'M.VERSION = "{__version__}"' in init


def _install_scripts(resource: Path, version: str) -> None:
    target = resource / "Scripts" / "musicgen-bridge"
    shutil.copytree(REPO / "daw_scripts" / "reaper", target)
    init = target / "mgb" / "init.lua"
    init.write_text(init.read_text().replace(f'M.VERSION = "{__version__}"', f'M.VERSION = "{version}"'))


def test_doctor_against_a_running_engine(server, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MGB_REAPER_RESOURCE", str(tmp_path / "reaper"))
    _install_scripts(tmp_path / "reaper", __version__)
    assert main(["doctor", "--json", "--server", server.addresses["zmq"]]) == 0
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["engine"]["status"] == "ok" and f"engine {__version__}" in checks["engine"]["detail"]
    assert "ports" not in checks  # the engine holds them
    assert checks["models"]["status"] == "ok" and "tiny" in checks["models"]["detail"]  # the engine's default
    assert checks["reaper"]["status"] == "ok" and checks["device"]["status"] in ("ok", "warn")
    shutil.rmtree(tmp_path / "reaper")
    _install_scripts(tmp_path / "reaper", "0.0.9")
    assert main(["doctor", "--server", server.addresses["zmq"]]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  reaper    ReaScripts 0.0.9 in {tmp_path / 'reaper' / 'Scripts' / 'musicgen-bridge'}" in out
    assert "fix: copy this release's daw_scripts/reaper/ over them" in out
    assert out.strip().endswith("1 problem(s) to fix")


def test_doctor_without_an_engine_checks_ports_and_the_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MUSICGEN_BRIDGE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("MGB_REAPER_RESOURCE", str(tmp_path / "reaper"))
    port = free_port(pair=True)
    assert main(["doctor", "--json", "--cache-dir", str(tmp_path), "--server", f"tcp://127.0.0.1:{port}"]) == 1
    checks = json.loads(capsys.readouterr().out)["checks"]
    by_name = {c["name"]: c for c in checks}
    assert by_name["engine"]["status"] == "warn" and "musicgen-bridge serve" in by_name["engine"]["fix"]
    assert any(c["name"] == "ports" for c in checks)
    assert by_name["models"]["status"] == "fail"
    assert by_name["models"]["fix"].startswith("`musicgen-bridge models pull facebook/musicgen-small`")
