"""``musicgen-bridge keys``, and the ``--client-key``/``--server-key`` pair of the client commands.

>>> run_keys("init", "/tmp/mgb-keys")      # writes key files  # doctest: +SKIP
0
"""

from __future__ import annotations

from pathlib import Path

from ...engine.errors import EngineError
from ..auth import AUTHORIZED, SERVER_NAME, ClientAuth, default_keys_dir, init_keys, new_client_keys


def client_auth(client_key: str | None, server_key: str | None) -> ClientAuth | None:
    """``--client-key FILE --server-key FILE`` (both or neither) -> a ClientAuth."""
    if not client_key and not server_key:
        return None
    if not (client_key and server_key):
        raise EngineError("missing_field", "give both --client-key (your .key_secret) and --server-key "
                          "(the engine's server.key)", field="--client-key" if not client_key else "--server-key")
    return ClientAuth(client_key, server_key)


def run_keys(command: str, folder_arg: str | None, *, name: str | None = None, authorize: bool = False) -> int:
    """``keys init`` (the engine's keys) or ``keys client NAME``: make keys and say where each file goes."""
    if command == "init":
        folder = init_keys(folder_arg)
        print(f"server keys: {folder / (SERVER_NAME + '.key_secret')} (secret, stays here)\n"
              f"give clients: {folder / (SERVER_NAME + '.key')}\n"
              f"authorized clients' public keys go in: {folder / AUTHORIZED}\n"
              f"start the engine with: musicgen-bridge serve --keys {folder} --zmq tcp://0.0.0.0:5555")
        return 0
    assert name is not None
    public, secret = new_client_keys(name, folder_arg, authorize=authorize)
    folder = Path(folder_arg).expanduser() if folder_arg else default_keys_dir()
    where = "already copied into" if authorize else "copy it into the engine machine's"
    print(f"client public key: {public} ({where} {folder / AUTHORIZED})\n"
          f"client secret key: {secret} (stays with the client)\n"
          f"use it with: musicgen-bridge generate --server tcp://HOST:5555 --client-key {secret} "
          f"--server-key {folder / (SERVER_NAME + '.key')} ...")
    return 0
