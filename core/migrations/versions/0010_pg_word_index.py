"""PostgreSQL: whole words and leading text of the searched columns, indexed beside the
trigram indexes: for ``artifacts.key``, ``artifacts.description``, ``collections.name`` and
``collections.description``,

- ``ix_<table>_<column>_words``: GIN over the column's words (lower-cased, split at every
  character that is no letter or digit, each word cut to its first 64 characters);
- ``ix_<table>_<column>_head``: btree over its first 64 lower-cased characters
  (``text_pattern_ops``: prefix LIKE whatever the database's collation).

A trigram index cannot say "no row has this as a word" or "no row is exactly this" when the
text is common: "ple" is in every "sample", "microscopy" is a word of a quarter of the keys,
and the rows a trigram index names must each be read and tested (2.3 x 10^4 rows for a search
for "ple" on the benchmark catalog). These two answer the exact, whole-word and prefix tiers of
a search (``query._pg_tier_sources``) from the index alone. Plain expression indexes, kept by
PostgreSQL itself: no trigger, no vocabulary table. The expressions must stay byte-identical to
``query._pg_words`` and ``query._pg_head``, or the planner cannot use them.

The words are cut to 64 characters and the head is 64 characters so that no index entry can
exceed the index row size limit, whatever a description holds. SQLite is unchanged (it has the
FTS5 word index of 0009). Idempotent (IF NOT EXISTS).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SEARCH_TABLES = {
    "artifacts": ("key", "description"),
    "collections": ("name", "description"),
}
# see query._pg_words / query._pg_head: the same expressions, character for character
WORDS = (
    "regexp_split_to_array(regexp_replace(lower({col}), '([[:alnum:]]{{64}})[[:alnum:]]*', "
    "'\\1', 'g'), '[^[:alnum:]]+')"
)
HEAD = "left(lower({col}), 64)"


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgresql():
        return
    for table, cols in SEARCH_TABLES.items():
        for col in cols:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{col}_words ON {table} "
                f"USING gin (({WORDS.format(col=col)}))"
            )
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{col}_head ON {table} "
                f"(({HEAD.format(col=col)}) text_pattern_ops)"
            )


def downgrade() -> None:
    if not _is_postgresql():
        return
    for table, cols in SEARCH_TABLES.items():
        for col in cols:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_words")
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_head")
