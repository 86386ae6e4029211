"""PostgreSQL: which vocabulary words hold a two-character text, from an index.

0011's vocabulary (``search_words``) answers "which words hold this text" from its trigram
index, but a text of two characters has no trigram: ``word LIKE '%ts%'`` read every word
(15-28 ms at 2.1x10^5 words, 35-77 ms under load, growing with the vocabulary).
``ix_search_words_pairs`` (GIN) indexes each word's two-character parts (``PAIRS``: those at
even offsets, then at odd ones, split at the commas a regular expression puts after each;
words are letters and digits, never a comma): ``PAIRS @> ARRAY['ts']`` is then answered from
the index, exactly the words holding "ts" (a word holds a two-character text exactly when it
is one of its pairs), in <1 ms (2.5 MB at 2.1x10^5 words, built in ~1 s). New words enter
it with their row of ``search_words`` (0011's triggers, unchanged). Built-in functions only:
an SQL function computing the same array made a bulk insert of new words ~25% slower (its
executor per word), this expression ~3%.

SQLite: nothing (FTS5, 0009). Idempotent.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# the two-character parts of ``word`` (query.PG_WORD_PAIRS, character for character: the
# planner uses the index only for this very expression)
PAIRS = (
    "array_remove(string_to_array(regexp_replace(word, '(..)|.', '\\1,', 'g') || "
    "regexp_replace(substr(word, 2), '(..)|.', '\\1,', 'g'), ','), '')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_search_words_pairs ON search_words USING gin (({PAIRS}))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_search_words_pairs")
