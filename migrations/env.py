"""Alembic environment: the URL comes from the caller (cmsflow init) or DATABASE_URL / the instance default."""
from alembic import context
from sqlmodel import SQLModel

from cmsflow import import_models
from cmsflow.config import load_config
from cmsflow.core.db import make_engine

import_models()
target_metadata = SQLModel.metadata
config = context.config


def _url() -> str:
    return config.attributes.get("database_url") or load_config()["DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
