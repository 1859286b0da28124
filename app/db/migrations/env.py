"""Alembic environment: the URL comes from the caller (Database.upgrade) or
DATABASE_URL, never from this directory."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

from app.db import normalise_url
from app.db.models import Base

config = context.config
url = config.attributes.get("connection_url") or normalise_url(
    os.environ.get("DATABASE_URL", "sqlite:///var/mlstack.db")
)


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
