"""Alembic environment: runs on the connection labshelf hands over."""

from alembic import context
from labshelf.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run labshelf migrations through labshelf.migrations.upgrade(connection)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
