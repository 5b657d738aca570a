"""The database: one engine per app, a session per request, and SQLite's single writer.

SQLite admits one writer at a time and its busy handler sleeps in whole milliseconds, so
writers from several gunicorn workers queue on an ``flock`` instead of retrying, then start with
``BEGIN IMMEDIATE``. PostgreSQL needs neither: its row locks order the writers.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from flask import Flask, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session, sessionmaker

_immediate: ContextVar[bool] = ContextVar("serdika_sqlite_immediate", default=False)


def make_engine(url: str, **options: Any) -> Engine:
    """Create an engine; for SQLite, WAL mode, a busy timeout and explicit transactions."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **options)
    engine = create_engine(url, connect_args={"timeout": 30}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")

    return engine


class _WriterQueue:
    """A process-wide queue of SQLite writers: a thread lock plus an flock on a file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._handle: Any = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._handle is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self._path, "a+b")  # noqa: SIM115 - kept for the process
            fcntl.flock(self._handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._handle, fcntl.LOCK_UN)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._writers: _WriterQueue | None = None
        if self.is_sqlite and self.engine.url.database not in (None, "", ":memory:"):
            self._writers = _WriterQueue(Path(f"{self.engine.url.database}.writers"))

    def init_app(self, app: Flask) -> None:
        app.extensions["serdika.db"] = self
        app.teardown_appcontext(self._close_session)

    @property
    def session(self) -> Session:
        """The request's session, opened on first use and closed at teardown."""
        session = g.get("_serdika_session")
        if session is None:
            session = g._serdika_session = self.sessions()
        return session

    def _close_session(self, _exc: BaseException | None) -> None:
        session = g.pop("_serdika_session", None)
        if session is not None:
            session.close()
        raw = g.pop("_serdika_raw", None)
        if raw is not None:
            raw.close()  # back to the pool, which rolls back whatever is open

    @property
    def dialect(self) -> Dialect:
        return self.engine.dialect

    @property
    def holds_writer_queue(self) -> bool:
        """Whether this context is inside :meth:`writing` on SQLite: another writer started
        here (:meth:`raw_writing`) would wait on the queue this context holds."""
        return _immediate.get()

    @property
    def raw(self) -> Any:
        """The request's pooled DBAPI connection, for prepared reads (broker/prepared.py).

        On SQLite it runs in autocommit, so each read sees the latest committed state; on
        PostgreSQL each statement of the request sees what was committed before it started.
        """
        connection = g.get("_serdika_raw")
        if connection is None:
            connection = g._serdika_raw = self.engine.raw_connection()
        return connection

    @contextmanager
    def raw_writing(self) -> Iterator[Any]:
        """A pooled DBAPI connection in one write transaction, queued like :meth:`writing`."""
        with self._writers.hold() if self._writers else nullcontext():
            connection = self.engine.raw_connection()
            try:
                if self._writers is not None:
                    connection.cursor().execute("BEGIN IMMEDIATE")
                yield connection
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                connection.close()

    @contextmanager
    def writing(self, session: Session | None = None) -> Iterator[Session]:
        """Run a write transaction: queued and immediate on SQLite, plain on PostgreSQL.

        Ends whatever read transaction the session had, so the write sees the latest state;
        commits at the end, rolls back on any exception. Commits inside the block are allowed
        (the next statement begins a new transaction under the same queue position).
        """
        session = session or self.session
        session.commit()
        with self._writers.hold() if self._writers else nullcontext():
            token = _immediate.set(self._writers is not None)
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                _immediate.reset(token)

    def dispose(self) -> None:
        self.engine.dispose()
