"""PostgreSQL: a vocabulary of the catalog's words, and the length of each searched column.

- ``search_words``: every word of ``artifacts.key``/``description`` and
  ``collections.name``/``description`` (lower-cased, split at every character that is no
  letter or digit — the words of 0010's word indexes, cut to 64 characters like them), with
  ``long`` set when the word was cut. Kept by statement-level triggers on INSERT and on UPDATE
  (per row whose searched text changed), one set-based statement per write, words taken in
  sorted order (two writers adding the same new words cannot deadlock). Words are never
  removed: a word no row holds any more only costs an empty index probe. A trigram index on
  the words answers "which words hold this text" and "which words are near this typo" from
  a table of distinct words, however many rows hold them.
- ``<column>_words``: the column's words as 0010 indexes them, now a stored generated column
  (``text[]``) with the GIN index ``ix_<table>_<column>_words`` on it instead of on 0010's
  expression: a test of a row's words then reads an array instead of splitting its text with
  two regular expressions (~12 µs a row: a count of 10^5 matches took 1.2 s when the planner
  read the table rather than the index, as it rightly does when most rows match). Adding
  the columns rewrites both tables once (seconds per 10^5 rows), under an exclusive lock.
- ``ix_<table>_<column>_length``: btree over ``length(lower(column))``, so that a long search
  text is looked for only among the rows long enough to hold it.

What this is for (``query._pg_vocabulary_terms``): a search text of ASCII letters and digits
lies inside one word of any row that holds it, so the rows holding it are the rows whose word
array overlaps the vocabulary's words that hold it (exact, with a LIKE check only for rows with
a cut word); a near miss of a typo is a row holding one of the vocabulary's words near it.
Both are answered by the 0010 word indexes instead of testing every row that shares a trigram
with the text ("ple" with every "sample": 10^5 rows), and a text that no word holds ("ts",
"sampel") by the vocabulary alone. SQLite is unchanged (FTS5, 0009). Idempotent.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SEARCH_TABLES = {
    "artifacts": ("key", "description"),
    "collections": ("name", "description"),
}
# 0010's words of a column (see query._pg_words), character for character
WORDS = (
    "regexp_split_to_array(regexp_replace(lower({col}), '([[:alnum:]]{{64}})[[:alnum:]]*', "
    "'\\1', 'g'), '[^[:alnum:]]+')"
)
# the words of a lower-cased text, uncut (WORDS without the cut), and the cut
SPLIT = "regexp_split_to_array(lower({col}), '[^[:alnum:]]+')"
CUT = 64


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _words_of(rows: str, cols: tuple[str, ...]) -> str:
    """SELECT of the (cut word, was cut) pairs of the searched columns of ``rows``."""
    arrays = " || ".join(f"coalesce({SPLIT.format(col=f'r.{c}')}, '{{}}')" for c in cols)
    return (
        f"SELECT left(w, {CUT}) AS word, bool_or(length(w) > {CUT}) AS long "
        f"FROM {rows}, LATERAL unnest({arrays}) AS w WHERE w <> '' GROUP BY 1 ORDER BY 1"
    )


def upgrade() -> None:
    if not _is_postgresql():
        return
    op.execute(
        "CREATE TABLE IF NOT EXISTS search_words ("
        'word text COLLATE "C" PRIMARY KEY, long boolean NOT NULL DEFAULT false)'
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_search_words_trgm ON search_words "
        "USING gin (word gin_trgm_ops)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_search_words_long ON search_words (word) WHERE long")
    upsert = (
        "INSERT INTO search_words (word, long) {select} "
        "ON CONFLICT (word) DO UPDATE SET long = true "
        "WHERE excluded.long AND NOT search_words.long"
    )
    for table, cols in SEARCH_TABLES.items():
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in cols)
        op.execute(
            f"CREATE OR REPLACE FUNCTION labshelf_{table}_words_ins() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN "
            f"{upsert.format(select=_words_of('new_rows r', cols))}; "
            f"RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE OR REPLACE FUNCTION labshelf_{table}_words_upd() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN "
            + upsert.format(select=_words_of("(SELECT NEW.*) r", cols))
            + "; RETURN NULL; END $$"
        )
        op.execute(f"DROP TRIGGER IF EXISTS {table}_words_ins ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_words_ins AFTER INSERT ON {table} "
            f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION labshelf_{table}_words_ins()"
        )
        # an UPDATE: per row whose searched text changed (most updates change a flag)
        op.execute(f"DROP TRIGGER IF EXISTS {table}_words_upd ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_words_upd AFTER UPDATE OF {', '.join(cols)} ON {table} "
            f"FOR EACH ROW WHEN ({changed}) "
            f"EXECUTE FUNCTION labshelf_{table}_words_upd()"
        )
        # the words of the rows already there
        op.execute(upsert.format(select=_words_of(f"{table} r", cols)))
        # each searched column's words, stored (one table rewrite for both), indexed instead
        # of 0010's expression
        for col in cols:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_words")
        op.execute(
            f"ALTER TABLE {table} "
            + ", ".join(
                f"ADD COLUMN IF NOT EXISTS {col}_words text[] "
                f"GENERATED ALWAYS AS ({WORDS.format(col=col)}) STORED"
                for col in cols
            )
        )
        for col in cols:
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{col}_words ON {table} "
                f"USING gin ({col}_words)"
            )
            op.execute(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{col}_length ON {table} "
                f"((length(lower({col}))))"
            )
        op.execute(f"ANALYZE {table}")
    op.execute("ANALYZE search_words")


def downgrade() -> None:
    if not _is_postgresql():
        return
    for table, cols in SEARCH_TABLES.items():
        op.execute(f"DROP TRIGGER IF EXISTS {table}_words_ins ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_words_upd ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS labshelf_{table}_words_ins()")
        op.execute(f"DROP FUNCTION IF EXISTS labshelf_{table}_words_upd()")
        for col in cols:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_length")
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{col}_words")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {col}_words")
            op.execute(  # 0010's
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{col}_words ON {table} "
                f"USING gin (({WORDS.format(col=col)}))"
            )
    op.execute("DROP TABLE IF EXISTS search_words")
