"""The SQLite schema of a store, versioned so that an old store is refused rather than misread."""
from __future__ import annotations

SCHEMA_VERSION = 1

# Every change to a fact sets its `seq` to the store's next change number. The graph and the vector
# index are saved with the last change number they reflect, so on open only the changes after it
# are replayed (a crash between a commit and a snapshot costs a replay, never a lost fact).
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS entities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    norm TEXT NOT NULL UNIQUE
);

-- Names and aliases of entities, case-insensitive (norm), one row per (name, entity).
CREATE TABLE IF NOT EXISTS entity_names (
    norm TEXT NOT NULL,
    entity_id INTEGER NOT NULL REFERENCES entities(id),
    name TEXT NOT NULL,
    PRIMARY KEY (norm, entity_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS relations (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,     -- Wikidata id when known, else the normalized label
    label TEXT NOT NULL,
    wikidata_id TEXT,
    template TEXT,
    multi_valued INTEGER NOT NULL DEFAULT 0,
    vec BLOB
);

CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    source TEXT,
    digest TEXT,                  -- sha256 of the imported file, for idempotent re-import
    created_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY,
    subject_id INTEGER NOT NULL REFERENCES entities(id),
    relation_id INTEGER NOT NULL REFERENCES relations(id),
    object_id INTEGER NOT NULL REFERENCES entities(id),
    subject TEXT NOT NULL,
    relation TEXT NOT NULL,
    object TEXT NOT NULL,
    wikidata_id TEXT,
    object_aliases TEXT NOT NULL DEFAULT '[]',
    template TEXT,
    source TEXT,
    batch_id TEXT NOT NULL REFERENCES batches(id),
    status TEXT NOT NULL,
    supersedes INTEGER REFERENCES facts(id),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_current ON facts(subject_id, relation_id) WHERE status = 'current';
CREATE INDEX IF NOT EXISTS facts_supersedes ON facts(supersedes);
CREATE INDEX IF NOT EXISTS facts_batch ON facts(batch_id);
CREATE INDEX IF NOT EXISTS facts_seq ON facts(seq);
CREATE INDEX IF NOT EXISTS facts_object ON facts(object_id) WHERE status = 'current';

-- Which record (by position in the file's record stream) of which file (by digest) produced which
-- fact: re-importing a file, also after a crash half-way through it, skips what is stored.
CREATE TABLE IF NOT EXISTS import_lines (
    digest TEXT NOT NULL,
    line INTEGER NOT NULL,            -- position of the record in the stream, from 0
    fact_id INTEGER NOT NULL,
    PRIMARY KEY (digest, line)
) WITHOUT ROWID;
"""
