"""The job journal: every accepted job, its state changes, request and result, in SQLite (WAL).

The queue writes a row when a job is accepted (before its id reaches the client) and at each state
change; a finished job's result stays answerable after a restart. When an engine starts on a journal
whose last owner died (crash, ``kill -9``, power loss), :func:`recover` marks that owner's queued and
running jobs ``interrupted``, removes half-written temp files from their folders, and queues again
the jobs whose request said ``"retryable": true`` (same job id, at most ``limits.MAX_JOB_ATTEMPTS``
runs in all).

>>> journal = open_journal("/tmp/mgb-doc/journal.sqlite")
>>> engine = Engine(EngineConfig(journal="/tmp/mgb-doc/journal.sqlite"))  # writes a journal file  # doctest: +SKIP
>>> engine.status("j-from-before-the-crash")["state"]  # writes a journal file  # doctest: +SKIP
'interrupted'

One engine owns a journal at a time (a lock file beside it); a second engine on the same file runs
without one and says so in its log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import EngineError
from ..paths import PathPolicy, user_data_dir

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "running")
KEEP_JOBS = 10000  # rows kept; older finished jobs are forgotten at start
#: temp names of engine.render.output (".<final name>.<12 hex>.part") and of the client's fetch (".mgb-*.part")
TEMP_FILE = re.compile(r"^\.(?:.+\.[0-9a-f]{12}|mgb-.+)\.part$")
INTERRUPTED = {"code": "interrupted", "message": "the engine stopped before this job finished; submit it again"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, request TEXT NOT NULL,
    result TEXT, error TEXT, retryable INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS transitions_job ON transitions(job_id);
"""


def default_path() -> Path:
    """``<user data dir>/journal.sqlite``: where ``serve`` keeps its journal unless told otherwise."""
    return user_data_dir() / "journal.sqlite"


class JournalInUse(RuntimeError):
    """Another live engine holds this journal."""


def _lock(path: Path) -> Any:
    """An exclusive, non-blocking lock on ``path`` that the OS drops when the process dies."""
    fh = open(path, "a+b")  # noqa: SIM115 - held open: the lock lives as long as the file handle
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise JournalInUse(f"{path} is held by another engine") from None
    return fh


def _request_dict(request: Any) -> dict[str, Any]:
    if hasattr(request, "to_dict"):
        return request.to_dict()
    return dict(request) if isinstance(request, dict) else {}


def is_retryable(request: Any) -> bool:
    """True when the request asked to be run again after a crash (``"retryable": true``)."""
    extra = request.get("retryable") if isinstance(request, dict) else getattr(request, "extra", {}).get("retryable")
    return extra is True


def check_retryable(content: Any) -> None:
    """Reject a ``retryable`` field that is not a boolean (the engine calls this at submit)."""
    if isinstance(content, dict) and not isinstance(content.get("retryable", False), bool):
        raise EngineError("invalid_field", "retryable must be true or false", field="retryable")


@dataclass
class Entry:
    """A journal row as recovery sees it."""

    id: str
    kind: str
    state: str
    request: dict[str, Any]
    retryable: bool
    attempts: int


class Journal:
    """A job table and a transition log in one SQLite file in WAL mode.

    >>> journal = Journal(Path("/tmp/mgb-doc/journal.sqlite"))  # writes a journal file  # doctest: +SKIP
    >>> journal.record(job); journal.status(job.id)["state"]  # writes a journal file  # doctest: +SKIP
    'queued'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.path.with_name(self.path.name + ".lock"))
        self._mutex = threading.Lock()
        try:
            self._db = self._connect()
        except sqlite3.OperationalError:
            self._lock_file.close()
            raise  # cannot open or write (read-only, full, not a file): not corruption, nothing to move aside
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("journal %s is unreadable (%s); moved aside to %s, starting a new one", self.path, exc, aside)
            os.replace(self.path, aside)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("journal %s: SQLite chose journal mode %s, not WAL", self.path, mode)
            # NORMAL in WAL mode: a killed process loses nothing; only a power cut may lose the last rows
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- writes (any thread) ----------------------------------------------------------------
    def record(self, job: Any) -> None:
        """Store a job's current state (the first call stores its request too) and log the transition."""
        now = time.time()
        result = None if job.result is None else json.dumps(job.result, default=str)
        error = None if job.error is None else json.dumps(job.error, default=str)
        with self._mutex, self._db:
            self._db.execute(
                "INSERT INTO jobs (id, kind, state, request, result, error, retryable, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
                "result = excluded.result, error = excluded.error, updated = excluded.updated",
                (job.id, job.kind, job.state, json.dumps(_request_dict(job.request), default=str), result, error,
                 int(is_retryable(job.request)), now, now))
            self._db.execute("INSERT INTO transitions (job_id, state, at) VALUES (?, ?, ?)", (job.id, job.state, now))

    def set_state(self, job_ids: Iterable[str], state: str, error: dict[str, Any] | None,
                   retryable: bool | None = None) -> None:
        now = time.time()
        with self._mutex, self._db:
            for job_id in job_ids:
                self._db.execute("UPDATE jobs SET state = ?, error = ?, updated = ?, "
                                 "retryable = COALESCE(?, retryable) WHERE id = ?",
                                 (state, None if error is None else json.dumps(error), now,
                                  None if retryable is None else int(retryable), job_id))
                self._db.execute("INSERT INTO transitions (job_id, state, at) VALUES (?, ?, ?)", (job_id, state, now))

    def count_attempt(self, job_id: str) -> None:
        with self._mutex, self._db:
            self._db.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?", (job_id,))

    def prune(self, keep: int = KEEP_JOBS) -> int:
        """Forget the oldest finished jobs beyond ``keep`` rows; returns how many went."""
        with self._mutex, self._db:
            old = [r[0] for r in self._db.execute(
                "SELECT id FROM jobs WHERE state NOT IN ('queued', 'running') ORDER BY updated DESC LIMIT -1 OFFSET ?",
                (keep,))]
            for job_id in old:
                self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                self._db.execute("DELETE FROM transitions WHERE job_id = ?", (job_id,))
        return len(old)

    # -- reads --------------------------------------------------------------------------------
    def status(self, job_id: str) -> dict[str, Any] | None:
        """A job's status in the shape ``Job.status()`` has, or None when the journal never saw it."""
        with self._mutex:
            row = self._db.execute("SELECT kind, state, result, error FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        kind, state, result, error = row
        out: dict[str, Any] = {"job_id": job_id, "kind": kind, "state": state,
                               "progress": 1.0 if state == "done" else 0.0}
        if result is not None:
            out["result"] = json.loads(result)
        if error is not None:
            out["error"] = json.loads(error)
        return out

    def transitions(self, job_id: str) -> list[str]:
        with self._mutex:
            return [r[0] for r in self._db.execute(
                "SELECT state FROM transitions WHERE job_id = ? ORDER BY seq", (job_id,))]

    def entries(self, states: Iterable[str]) -> list[Entry]:
        states = tuple(states)
        marks = ", ".join("?" * len(states))
        with self._mutex:
            rows = self._db.execute(f"SELECT id, kind, state, request, retryable, attempts FROM jobs "
                                    f"WHERE state IN ({marks}) ORDER BY created", states).fetchall()
        return [Entry(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), int(r[5])) for r in rows]

    def close(self) -> None:
        with self._mutex:
            self._db.close()
        self._lock_file.close()


def open_journal(path: str | os.PathLike[str] | None) -> Journal | None:
    """The journal at ``path`` (None: no journal); None too when another engine holds it."""
    if path is None:
        return None
    try:
        return Journal(path)
    except JournalInUse as exc:
        log.warning("%s; this engine keeps no journal (jobs will not survive a restart)", exc)
        return None
    except (OSError, sqlite3.Error) as exc:  # a read-only folder, a full disk, a folder in the way
        log.error("journal %s cannot be written (%s); this engine keeps no journal: jobs will not survive a "
                  "restart (serve --journal PATH to choose another place, or --journal off)", path, exc)
        return None


def remove_temp_files(folders: Iterable[Path], older_than: float) -> list[Path]:
    """Delete half-written files (temp names only, never a final name) last changed before ``older_than``."""
    removed = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = folder / name
            try:
                if TEMP_FILE.match(name) and path.is_file() and path.stat().st_mtime < older_than:
                    path.unlink()
                    removed.append(path)
            except OSError as exc:
                log.warning("could not remove temp file %s: %s", path, exc)
    return removed


#: folders under the output root searched for temp files at restart (live sessions write there too)
MAX_CLEAN_FOLDERS = 256


def _subfolders(root: Path) -> list[Path]:
    """The output root's folders, two levels deep, at most MAX_CLEAN_FOLDERS (symlinks not followed)."""
    found: list[Path] = []
    level = [root]
    for _ in range(2):
        nxt = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and len(found) < MAX_CLEAN_FOLDERS:
                    found.append(Path(entry.path))
                    nxt.append(Path(entry.path))
        level = nxt
    return found


@dataclass
class Recovery:
    interrupted: list[str]
    requeued: list[str]
    removed: list[Path]


def recover(journal: Journal, submit: Callable[..., Any], paths: PathPolicy) -> Recovery:
    """After an unclean stop: mark unfinished jobs interrupted, clean temp files, re-queue retryable ones.

    ``submit(kind, content, job_id=...)`` is the engine's own submit, so re-queued requests are
    validated again (a file they named may have gone).
    """
    started = time.time()
    journal.prune()
    unfinished = journal.entries(UNFINISHED)
    journal.set_state([e.id for e in unfinished], "interrupted", INTERRUPTED)
    folders = {paths.output_root, *_subfolders(paths.output_root), *paths.allowed_dirs}  # live windows too
    for entry in unfinished:
        try:
            folders.add(paths.folder(entry.request.get("output_dir")))
        except EngineError:
            pass  # a folder no longer allowed: nothing of ours to clean there
    removed = remove_temp_files(folders, older_than=started)
    requeued = []
    for entry in journal.entries(["interrupted"]):
        if not entry.retryable:
            continue
        if entry.attempts >= limits.MAX_JOB_ATTEMPTS:
            journal.set_state([entry.id], "interrupted", {**INTERRUPTED, "message": (
                f"the engine stopped during each of this job's {entry.attempts} runs; it is not run again")},
                retryable=False)
            continue
        try:
            submit(entry.kind, entry.request, job_id=entry.id)
        except EngineError as exc:
            journal.set_state([entry.id], "interrupted", {**INTERRUPTED, "message": (
                f"the engine stopped before this job finished and it could not be queued again: {exc.message}")},
                retryable=False)
            continue
        journal.count_attempt(entry.id)
        requeued.append(entry.id)
    if unfinished or removed:
        log.warning("journal: %d job(s) interrupted by the last stop, %d queued again, %d temp file(s) removed",
                    len(unfinished), len(requeued), len(removed))
    return Recovery([e.id for e in unfinished], requeued, removed)
