"""Named schema migrations, applied in order inside one transaction each and recorded."""

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE TABLE contacts (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            alt_id TEXT UNIQUE,
            display_name TEXT,
            phone TEXT,
            language TEXT NOT NULL DEFAULT 'id',
            consent TEXT,
            consent_version TEXT,
            opted_out INTEGER NOT NULL DEFAULT 0,
            unreachable INTEGER NOT NULL DEFAULT 0,
            awaiting_case_id INTEGER REFERENCES cases(id) ON DELETE SET NULL,
            last_inbound_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            granted INTEGER NOT NULL,
            notice_version TEXT NOT NULL,
            at TEXT NOT NULL,
            withdrawn_at TEXT
        );
        CREATE INDEX consents_contact ON consents(contact_id);
        CREATE TABLE conversations (
            contact_id TEXT PRIMARY KEY REFERENCES contacts(id),
            flow TEXT NOT NULL,
            step TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            started_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE persons (
            id INTEGER PRIMARY KEY,
            registered_by TEXT NOT NULL REFERENCES contacts(id),
            is_self INTEGER NOT NULL,
            full_name TEXT NOT NULL,
            nik TEXT,
            nik_hash TEXT,
            kk TEXT,
            kk_hash TEXT,
            birth_date TEXT,
            sex TEXT,
            phone TEXT,
            kecamatan_code TEXT,
            kelurahan_code TEXT,
            address TEXT,
            latitude REAL,
            longitude REAL,
            household_size INTEGER,
            skills TEXT NOT NULL DEFAULT '[]',
            disaster_victim INTEGER,
            documents TEXT NOT NULL DEFAULT '[]',
            aid_received TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE INDEX persons_nik_hash ON persons(nik_hash);
        CREATE INDEX persons_registered_by ON persons(registered_by);
        CREATE INDEX persons_name_birth ON persons(full_name COLLATE NOCASE, birth_date);
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            person_id INTEGER REFERENCES persons(id),
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            subject_name TEXT NOT NULL,
            kecamatan_code TEXT,
            kelurahan_code TEXT,
            answers TEXT NOT NULL,
            nik_hash TEXT,
            duplicate_of TEXT,
            info_question TEXT,
            citizen_note TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX cases_status_kind ON cases(status, kind);
        CREATE INDEX cases_contact ON cases(contact_id);
        CREATE INDEX cases_kecamatan ON cases(kecamatan_code);
        CREATE TABLE case_events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            from_status TEXT,
            to_status TEXT,
            note TEXT,
            citizen_notified INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX case_events_case ON case_events(case_id);
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT
        );
        CREATE TABLE inbound (
            id TEXT PRIMARY KEY,
            contact_id TEXT NOT NULL,
            received_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            origin TEXT NOT NULL,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued',
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            case_id INTEGER REFERENCES cases(id),
            external_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_pending ON outbox(status, id) WHERE status IN ('queued', 'sending');
        CREATE INDEX outbox_contact ON outbox(contact_id);
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        """,
    ),
    (
        "0002_channels",
        """
        CREATE INDEX outbox_external ON outbox(external_id) WHERE external_id IS NOT NULL;
        CREATE TABLE channel_state (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE webhook_inbox (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            body BLOB NOT NULL,
            received_at TEXT NOT NULL,
            processed_at TEXT,
            error TEXT
        );
        CREATE INDEX webhook_inbox_pending ON webhook_inbox(id) WHERE processed_at IS NULL;
        """,
    ),
]


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded, in order; return the names applied."""
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied: list[str] = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    # executescript would commit implicitly; split so each migration stays one transaction.
    return [part.strip() for part in sql.split(";") if part.strip()]
