"""Engine and session factory. Nothing is created at import: `Database(url)` is made
by `build_services` (app/services.py) with the configured URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from app.core.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# The database (not the request) is the problem: raised as DatabaseUnavailable.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)


def normalise_url(url: str) -> str:
    """Heroku-style `postgres://` and bare `postgresql://` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        # WAL lets the worker write while the web reads
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        # fail fast while the server is down rather than hanging a request
        connect_args={"connect_timeout": 3, "options": "-c statement_timeout=30000"},
    )


class Database:
    def __init__(self, url: str):
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error. A refused or dropped
        connection surfaces as DatabaseUnavailable."""
        try:
            with self.sessionmaker() as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except DATABASE_DOWN as exc:
            raise DatabaseUnavailable() from exc

    def ping(self) -> None:
        """One round trip (readiness); raises DatabaseUnavailable when it fails."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:  # whatever fails, the database cannot serve
            raise DatabaseUnavailable(f"unreachable: {type(exc).__name__}") from exc

    def upgrade(self) -> None:
        """Run Alembic migrations to head."""
        from alembic import command
        from alembic.config import Config

        cfg = Config(str(MIGRATIONS / "alembic.ini"))
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_url"] = self.url
        command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()
