"""PostgreSQL: which vocabulary words hold a two-character text, from an index.

0011's vocabulary (``search_words``) answers "which words hold this text" from its trigram
index, but a text of two characters has no trigram: ``word LIKE '%ts%'`` read every word
(15-77 ms at 2x10^5 words, growing with the vocabulary). ``labshelf_word_pairs(word)`` is the
array of the distinct two-character substrings of a word; ``ix_search_words_pairs`` (GIN) on
it answers ``labshelf_word_pairs(word) @> ARRAY['ts']`` from the index: exactly the words
holding "ts" (a word holds a two-character text exactly when that text is one of its pairs),
<1 ms whatever the vocabulary's size (2.5 MB at 2.1x10^5 words, built in ~1 s). New words
enter it with their row of ``search_words`` (0011's triggers): no trigger changes.

SQLite: nothing (FTS5, 0009). Idempotent.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# query._pg_vocabulary_candidates uses this expression, character for character
PAIRS = (
    "CREATE OR REPLACE FUNCTION labshelf_word_pairs(w text) RETURNS text[] "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS "
    "$$ SELECT coalesce(array_agg(DISTINCT substr(w, i, 2)), '{}') "
    "FROM generate_series(1, length(w) - 1) AS i $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(PAIRS)
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_search_words_pairs ON search_words "
        "USING gin (labshelf_word_pairs(word))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_search_words_pairs")
    op.execute("DROP FUNCTION IF EXISTS labshelf_word_pairs(text)")
