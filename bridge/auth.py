"""Remote access: CURVE keys for ZeroMQ, an address allowlist for OSC.

Key folder (``musicgen-bridge keys init``; default ``<user config dir>/keys``)::

    server.key              the engine's public key: give it to every client
    server.key_secret       the engine's secret key: never leaves this machine
    authorized_clients/     one <name>.key (public) per client allowed in
    clients/                keypairs made here by ``musicgen-bridge keys client NAME``

>>> auth = ServerAuth("~/.config/musicgen-bridge/keys")  # needs key files and a running engine  # doctest: +SKIP
>>> server = BridgeServer(engine, zmq_addr="tcp://0.0.0.0:5555", auth=auth)  # needs key files and a running engine  # doctest: +SKIP
>>> client = Client("tcp://studio:5555", auth=ClientAuth("laptop.key_secret", "server.key"))  # needs key files and a running engine  # doctest: +SKIP

The authorized folder is read again whenever it changes, so adding or deleting a client's key
takes effect at that client's next connection, without a restart. docs/security.md says what
each measure protects and what it does not.
"""

from __future__ import annotations

import glob
import ipaddress
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from ..engine.errors import EngineError
from ..engine.paths import user_config_dir

log = logging.getLogger(__name__)

SERVER_NAME = "server"
AUTHORIZED = "authorized_clients"
CLIENTS = "clients"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def default_keys_dir() -> Path:
    """``<user config dir>/keys``, e.g. ``~/.config/musicgen-bridge/keys`` on Linux."""
    return user_config_dir() / "keys"


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)


def _make_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """A fresh keypair ``<name>.key`` + ``<name>.key_secret``; never replaces an existing one."""
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for path in (public, secret):
        if path.exists():
            raise EngineError("file_exists", f"{path} exists; keys are never overwritten (delete it first "
                              "if you really mean to replace it)", path=str(path))
    public_file, secret_file = zmq.auth.create_certificates(folder, name)
    if os.name == "posix":
        os.chmod(secret_file, 0o600)
    return Path(public_file), Path(secret_file)


def init_keys(keys_dir: str | os.PathLike[str] | None = None) -> Path:
    """Create the engine's keypair and an empty authorized folder; returns the key folder.

    >>> init_keys("/tmp/mgb-keys")  # needs key files and a running engine  # doctest: +SKIP
    PosixPath('/tmp/mgb-keys')
    """
    folder = Path(keys_dir).expanduser() if keys_dir else default_keys_dir()
    _private_dir(folder)
    _make_pair(folder, SERVER_NAME)
    (folder / AUTHORIZED).mkdir(exist_ok=True)
    return folder


def new_client_keys(name: str, keys_dir: str | os.PathLike[str] | None = None,
                    authorize: bool = False) -> tuple[Path, Path]:
    """Make keypair ``clients/<name>``; with ``authorize`` also let it into this machine's engine.

    >>> public, secret = new_client_keys("laptop", "/tmp/mgb-keys")  # needs key files and a running engine  # doctest: +SKIP
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise EngineError("invalid_field", f"client name {name!r} must be 1-64 letters, digits, '.', '_' or '-'",
                          field="name")
    folder = Path(keys_dir).expanduser() if keys_dir else default_keys_dir()
    _private_dir(folder / CLIENTS)
    public, secret = _make_pair(folder / CLIENTS, name)
    if authorize:
        (folder / AUTHORIZED).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(public, folder / AUTHORIZED / public.name)
    return public, secret


def _load(path: Path, what: str, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise EngineError("invalid_field", f"cannot read the {what} {path}: {exc}", path=str(path)) from None
    if secret and not secret_key:
        raise EngineError("invalid_field", f"{path} holds no secret key; give the .key_secret file", path=str(path))
    return public, secret_key


class _AuthorizedKeys:
    """The public keys in the authorized folder, re-read when the folder changes (ZAP callback)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stamp: tuple[Any, ...] | None = None
        self._keys: set[bytes] = set()
        self._lock = threading.Lock()

    def keys(self) -> set[bytes]:
        files = sorted(glob.glob(str(self.folder / "*.key")))
        try:
            stamp = (os.stat(self.folder).st_mtime_ns, *((f, os.stat(f).st_mtime_ns) for f in files))
        except OSError:
            stamp = ()
        with self._lock:
            if stamp != self._stamp:
                keys = set()
                for name in files:
                    try:
                        public, _ = zmq.auth.load_certificate(name)
                    except (OSError, ValueError) as exc:
                        log.warning("skipping unreadable client key %s: %s", name, exc)
                        continue
                    keys.add(public)
                self._stamp, self._keys = stamp, keys
            return self._keys

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.keys():
            return True
        log.warning("refused a ZeroMQ client with an unknown key %s...: add its .key file to %s to let it in",
                    key[:12].decode(errors="replace"), self.folder)
        return False


class ServerAuth:
    """CURVE for the engine's sockets, with a ZAP handler that admits only authorized clients.

    The engine's sockets must come from :attr:`context` (the ZAP handler serves one context);
    :class:`bridge.server.BridgeServer` does that when given ``auth``.
    """

    def __init__(self, keys_dir: str | os.PathLike[str] | None = None, context: zmq.Context | None = None) -> None:
        self.folder = Path(keys_dir).expanduser() if keys_dir else default_keys_dir()
        secret_file = self.folder / f"{SERVER_NAME}.key_secret"
        if not secret_file.is_file():
            raise EngineError("invalid_field", f"no server key in {self.folder}; create one with "
                              f"`musicgen-bridge keys init --dir {self.folder}`", path=str(secret_file))
        self.public_key, self.secret_key = _load(secret_file, "server key", secret=True)
        self.authorized = _AuthorizedKeys(self.folder / AUTHORIZED)
        if not self.authorized.keys():
            log.warning("no client keys in %s: every ZeroMQ client will be refused; add one with "
                        "`musicgen-bridge keys client NAME --authorize`", self.authorized.folder)
        self.context = context or zmq.Context()
        self._authenticator: ThreadAuthenticator | None = None

    def start(self) -> None:
        if self._authenticator is None:
            self._authenticator = ThreadAuthenticator(self.context, log=log.getChild("zap"))
            self._authenticator.start()
            self._authenticator.configure_curve_callback("*", self.authorized)

    def configure_server(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (call before bind); starts the ZAP handler on first use."""
        if sock.context is not self.context:
            raise ValueError("the socket must come from ServerAuth.context: its ZAP handler serves that context")
        self.start()
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_server = True

    def stop(self) -> None:
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None


_REFUSALS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class ClientAuth:
    """A client's keypair and the engine's public key; remembers whether the engine refused us.

    >>> auth = ClientAuth("clients/laptop.key_secret", "server.key")  # needs key files and a running engine  # doctest: +SKIP
    >>> Client("tcp://studio:5555", auth=auth).ping()  # needs key files and a running engine  # doctest: +SKIP
    """

    def __init__(self, client_secret_file: str | os.PathLike[str], server_public_file: str | os.PathLike[str]) -> None:
        self.client_file = Path(client_secret_file).expanduser()
        self.public_key, self.secret_key = _load(self.client_file, "client key", secret=True)
        self.server_key, _ = _load(Path(server_public_file).expanduser(), "server key", secret=False)
        self._monitors: list[tuple[zmq.Socket, zmq.Socket]] = []
        self._refusal: int | None = None

    def configure_client(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of the engine (call before connect)."""
        self._prune()
        sock.curve_secretkey = self.secret_key
        sock.curve_publickey = self.public_key
        sock.curve_serverkey = self.server_key
        monitor = sock.get_monitor_socket(_REFUSALS, addr=f"inproc://mgb-auth-{uuid.uuid4().hex}")
        self._monitors.append((sock, monitor))

    def refusal(self) -> str | None:
        """Why the engine refused us, if it did (read from the sockets' handshake events)."""
        for _sock, monitor in self._monitors:
            while not monitor.closed and monitor.poll(0):
                event = recv_monitor_message(monitor)["event"]
                if event & _REFUSALS and self._refusal != zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    self._refusal = event  # a refused key says the most; keep it once seen
        if self._refusal == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return (f"the engine refused this client's key ({self.client_file.name}): ask its owner to copy "
                    f"the matching .key file into the engine's {AUTHORIZED} folder")
        if self._refusal is not None:  # the engine could not read our handshake, or we could not read its
            return ("the secure handshake with the engine failed: check --server-key (the engine's server.key) "
                    "and that the engine was started with --keys")
        return None

    def raise_if_refused(self) -> None:
        """Raise ``EngineError("unauthorized")`` when the engine refused us (the client calls this on timeout)."""
        why = self.refusal()
        if why is not None:
            raise EngineError("unauthorized", why)

    def _prune(self) -> None:
        alive = []
        for sock, monitor in self._monitors:
            if sock.closed:
                monitor.close(0)
            else:
                alive.append((sock, monitor))
        self._monitors = alive

    def close(self) -> None:
        for _sock, monitor in self._monitors:
            monitor.close(0)
        self._monitors = []


class OscAllowlist:
    """Source addresses (or networks) whose OSC datagrams the engine handles; loopback is always in.

    >>> allow = OscAllowlist(["192.0.2.10", "198.51.100.0/24"])
    >>> allow.allows("192.0.2.10"), allow.allows("198.51.100.7"), allow.allows("203.0.113.5")
    (True, True, False)
    """

    def __init__(self, entries: Iterable[str], include_loopback: bool = True) -> None:
        self.include_loopback = include_loopback
        self.networks = []
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                raise EngineError("invalid_field", f"--osc-allow {entry!r} is not an IP address or network "
                                  "(e.g. 192.0.2.10 or 192.0.2.0/24)", field="osc_allow") from None
        self._logged: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def allows(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return (self.include_loopback and addr.is_loopback) or any(addr in net for net in self.networks)

    def check(self, host: str) -> bool:
        """``allows`` plus a log line for a refused address (the first time, then every 1000th)."""
        if self.allows(host):
            return True
        count = self._logged.get(host, 0)
        if count % 1000 == 0:
            log.warning("dropped OSC from %s: not in --osc-allow (%d so far from it)", host, count + 1)
        if count or len(self._logged) < 4096:  # bounded: spoofed sources must not grow this forever
            self._logged[host] = count + 1
        return False


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 and ::1; a wildcard (``*``, ``0.0.0.0``) or an interface name is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def zmq_host(addr: str) -> str:
    """The host of a ZeroMQ endpoint; ipc:// and inproc:// never leave the machine."""
    scheme, _, rest = addr.partition("://")
    if scheme != "tcp":
        return "127.0.0.1"
    return rest.rpartition(":")[0].strip("[]")


def exposure_problem(zmq_addrs: Iterable[str], osc_hosts: Iterable[str], keys: bool, osc_allow: bool) -> str | None:
    """Why ``serve`` must not start with these addresses, or None: ZeroMQ beyond loopback needs keys,
    OSC beyond loopback needs an allowlist."""
    for addr in zmq_addrs:
        host = zmq_host(addr)
        if not is_loopback(host) and not keys:
            return (f"refusing to serve ZeroMQ on {host or addr} without authentication: run `musicgen-bridge keys "
                    "init` and start with --keys DIR, or listen on 127.0.0.1 (docs/security.md)")
    for host in osc_hosts:
        if not is_loopback(host) and not osc_allow:
            return (f"refusing to serve OSC on {host} to anyone: name the controllers allowed in with --osc-allow "
                    "ADDRESS (repeatable), or listen on 127.0.0.1 (docs/security.md)")
    return None


__all__ = ["ClientAuth", "OscAllowlist", "ServerAuth",
           "default_keys_dir", "exposure_problem", "init_keys", "is_loopback", "new_client_keys", "zmq_host"]
