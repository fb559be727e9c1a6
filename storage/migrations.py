"""Named schema migrations for both backends: one ordered list, applied in order inside one transaction
each and recorded in the store's `migrations` table.

Each entry is a `Migration`: its name, its SQLite SQL and its PostgreSQL SQL (a plain `(name, sql)`
pair is an entry with SQLite SQL only). The rule:
- **SQLite** applies every entry's SQLite SQL in order, as it always has (the names and SQL of entries
  already released never change: stores in the field have recorded them).
- **PostgreSQL** starts from a baseline (`storage.pg_baseline`): on an empty PostgreSQL store it creates
  the schema SQLite has after the entry named `POSTGRESQL_BASELINE` in one step, and records every entry
  up to and including that one as applied. Entries up to the baseline need no PostgreSQL SQL.
- **Every entry after the baseline carries both spellings**: `Migration("0014_x", sqlite_sql,
  postgresql_sql)`. PostgreSQL refuses to start on an entry without its PostgreSQL SQL (a clear error
  names it) rather than leave the two schemas apart. The two spellings must give the same tables,
  columns, defaults and indexes (see `storage.pg_baseline` for how SQLite's types map).
"""

import sqlite3
from datetime import UTC, datetime

# Finished outbox rows not about a case whose body is still kept: what the retention prune walks.
OUTBOX_PRUNABLE = (
    "case_id IS NULL AND status IN ('sent', 'delivered', 'read', 'failed', 'blocked', 'cancelled') "
    'AND payload != \'{"text": ""}\''
)


def phone_key_sql(column: str) -> str:
    """SQL giving a phone number's digits in one spelling: 0812-3456-7890, +62 812 3456 7890 and
    62812.34567890 all become 6281234567890 (the same as `handlers.validators.phone_key`)."""
    digits = column
    for mark in (" ", "-", ".", "(", ")", "+"):
        digits = f"replace({digits}, '{mark}', '')"
    return f"CASE WHEN {digits} LIKE '0%' THEN '62' || substr({digits}, 2) ELSE NULLIF({digits}, '') END"


def _tally_key(row: str) -> str:
    return (
        f"{row}.status, {row}.kind, COALESCE({row}.kecamatan_code, ''), COALESCE({row}.kelurahan_code, ''), "
        f"{row}.assignee_id IS NULL"
    )


def _tally_add(row: str) -> str:
    return (
        "INSERT INTO case_tally (status, kind, kecamatan_code, kelurahan_code, unassigned, n) "
        f"VALUES ({_tally_key(row)}, 1) ON CONFLICT DO UPDATE SET n = n + 1;"
    )


def _hours_key(row: str) -> str:
    return f"{row}.kind, {row}.status IN ('baru', 'diproses', 'perlu_info'), substr({row}.created_at, 1, 13)"


def _hours_add(row: str) -> str:
    return (
        f"INSERT INTO case_hours (kind, open, hour, n) VALUES ({_hours_key(row)}, 1) "
        "ON CONFLICT DO UPDATE SET n = n + 1;"
    )


def _hours_remove(row: str) -> str:
    return f"UPDATE case_hours SET n = n - 1 WHERE (kind, open, hour) = ({_hours_key(row)});"


def _tally_remove(row: str) -> str:
    return (
        "UPDATE case_tally SET n = n - 1 WHERE (status, kind, kecamatan_code, kelurahan_code, unassigned) "
        f"= ({_tally_key(row)});"
    )


class Migration(tuple[str, str]):
    """One migration: `(name, sqlite_sql)` as a pair, and its PostgreSQL SQL as `postgresql` (None for
    entries the PostgreSQL baseline covers)."""

    postgresql: str | None

    def __new__(cls, name: str, sqlite: str, postgresql: str | None = None) -> "Migration":
        entry = super().__new__(cls, (name, sqlite))
        entry.postgresql = postgresql
        return entry

    @property
    def name(self) -> str:
        return self[0]

    @property
    def sqlite(self) -> str:
        return self[1]


# The last entry the PostgreSQL baseline (`storage.pg_baseline.BASELINE`) stands for.
POSTGRESQL_BASELINE = "0013_i14_case_age"

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
    (
        "0003_outreach",
        """
        CREATE TABLE broadcasts (
            id INTEGER PRIMARY KEY,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            segment TEXT NOT NULL,
            text_id TEXT NOT NULL,
            text_en TEXT,
            template TEXT,
            send_at TEXT NOT NULL,
            status TEXT NOT NULL,
            recipients INTEGER,
            enqueued_at TEXT,
            finished_at TEXT,
            cancelled_by TEXT
        );
        ALTER TABLE outbox ADD COLUMN broadcast_id INTEGER REFERENCES broadcasts(id);
        ALTER TABLE outbox ADD COLUMN not_before TEXT;
        ALTER TABLE outbox ADD COLUMN dedupe_key TEXT;
        ALTER TABLE outbox ADD COLUMN bulk INTEGER GENERATED ALWAYS AS (
            origin IN ('broadcast', 'reminder', 'programme', 'nudge')
        ) VIRTUAL;
        CREATE INDEX outbox_queue ON outbox(status, bulk, id) WHERE status = 'queued';
        CREATE UNIQUE INDEX outbox_dedupe ON outbox(dedupe_key) WHERE dedupe_key IS NOT NULL;
        CREATE INDEX outbox_broadcast ON outbox(broadcast_id, status) WHERE broadcast_id IS NOT NULL;
        CREATE TABLE reminders (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            segment TEXT,
            text_id TEXT,
            text_en TEXT,
            cron TEXT,
            due_at TEXT NOT NULL,
            case_id INTEGER REFERENCES cases(id),
            contact_id TEXT REFERENCES contacts(id),
            programme_id INTEGER,
            appointment_id INTEGER,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_run_at TEXT
        );
        CREATE INDEX reminders_due ON reminders(due_at) WHERE status = 'active';
        CREATE TABLE reminder_runs (
            reminder_id INTEGER NOT NULL REFERENCES reminders(id),
            due_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT,
            recipients INTEGER NOT NULL DEFAULT 0,
            at TEXT NOT NULL,
            PRIMARY KEY (reminder_id, due_at)
        ) WITHOUT ROWID;
        CREATE TABLE appointments (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            starts_at TEXT NOT NULL,
            place TEXT NOT NULL,
            note TEXT,
            status TEXT NOT NULL DEFAULT 'scheduled',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX appointments_case ON appointments(case_id);
        CREATE TABLE programmes (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            skill TEXT NOT NULL,
            place TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            quota INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE rsvps (
            id INTEGER PRIMARY KEY,
            programme_id INTEGER NOT NULL REFERENCES programmes(id),
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            status TEXT NOT NULL,
            invited_at TEXT NOT NULL,
            answered_at TEXT,
            answer_order INTEGER,
            UNIQUE (programme_id, contact_id)
        );
        CREATE INDEX rsvps_programme ON rsvps(programme_id, status, answered_at);
        CREATE INDEX rsvps_contact ON rsvps(contact_id, status);
        """,
    ),
    # WhatsApp: when Meta refused a free-form message as outside the 24-hour window (error 131047), so
    # templates are used until the person writes again; held rows found quickly when they do.
    (
        "0004_whatsapp",
        """
        CREATE TABLE whatsapp_windows (
            contact_id TEXT PRIMARY KEY,
            closed_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX outbox_held ON outbox(contact_id) WHERE status = 'held';
        """,
    ),
    # The staff web dashboard: accounts (argon2 hashes), server-side sessions (only a hash of the cookie
    # token is kept), who a case is assigned to, and the indexes the queue's filters walk in id order.
    (
        "0005_dashboard",
        """
        CREATE TABLE staff_users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'petugas', 'viewer')),
            password_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_login_at TEXT
        );
        CREATE TABLE staff_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES staff_users(id),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX staff_sessions_user ON staff_sessions(user_id);
        ALTER TABLE cases ADD COLUMN assignee_id INTEGER REFERENCES staff_users(id);
        CREATE INDEX cases_kind ON cases(kind);
        CREATE INDEX cases_status ON cases(status);
        CREATE INDEX cases_kelurahan ON cases(kelurahan_code);
        CREATE INDEX cases_assignee ON cases(assignee_id);
        CREATE INDEX cases_created ON cases(created_at);
        CREATE INDEX cases_nik_hash ON cases(nik_hash) WHERE nik_hash IS NOT NULL;
        CREATE INDEX persons_kecamatan ON persons(kecamatan_code);
        CREATE INDEX outbox_case ON outbox(case_id) WHERE case_id IS NOT NULL;
        CREATE INDEX appointments_starts ON appointments(starts_at);
        CREATE INDEX audit_log_actor ON audit_log(actor);
        """,
    ),
    # A contact who sent far more messages than could be answered at once: when it was noticed and how
    # many were waiting, for staff (the messages themselves are kept and answered in turn).
    (
        "0006_contact_flood",
        """
        ALTER TABLE contacts ADD COLUMN flooded_at TEXT;
        ALTER TABLE contacts ADD COLUMN flood_waiting INTEGER;
        """,
    ),
    # Answers as people give them: a birth date known only to the month, the year or from an age keeps its
    # precision; who agreed to a registration made by a field worker (the person, or a parent or guardian
    # for a child); files to delete from the media folder once the data they belonged to is erased.
    (
        "0007_answers_precision",
        """
        ALTER TABLE persons ADD COLUMN birth_precision TEXT;
        ALTER TABLE persons ADD COLUMN agreed_by TEXT;
        CREATE TABLE media_erasures (
            ref TEXT PRIMARY KEY,
            at TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    # Consent to information messages is a purpose of its own (UU PDP Pasal 22(4)): each consent row says
    # which purpose it answers ('service' or 'broadcast').
    (
        "0008_consent_purpose",
        """
        ALTER TABLE consents ADD COLUMN purpose TEXT NOT NULL DEFAULT 'service'
        """,
    ),
    # Which key sealed the store: a check value derived from the key (never the key), compared at start.
    (
        "0010_key_check",
        """
        CREATE TABLE store_key (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            check_value TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        );
        """,
    ),
    # Sign-in limits kept in the store (a restart forgets nothing): failures per (account, address) and
    # per address, with the time until the next attempt is allowed; and the first admin's made-up
    # password, which must be changed at the first sign-in.
    (
        "0010b_login_limits",
        """
        CREATE TABLE login_limits (
            key TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_at TEXT NOT NULL,
            blocked_until TEXT
        ) WITHOUT ROWID;
        ALTER TABLE staff_users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    # Voice notes: who wants every question spoken too, the office's recorded prompts (the audio files live
    # in the data directory), and media ids a platform gave an uploaded voice note, reused while valid.
    (
        "0011_voice",
        """
        ALTER TABLE contacts ADD COLUMN voice INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE voice_prompts (
            language TEXT NOT NULL,
            slot TEXT NOT NULL,
            file TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            source TEXT NOT NULL,
            recorded_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (language, slot)
        ) WITHOUT ROWID;
        CREATE TABLE voice_uploads (
            channel TEXT NOT NULL,
            audio TEXT NOT NULL,
            media_id TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (channel, audio)
        ) WITHOUT ROWID;
        """,
    ),
    # Maps: where a case's person shared their location (copied from the answers of cases filed before),
    # the index the summary map counts from without reading the table (any of its filters), the located
    # cases newest first, and the summary's open-and-unassigned count without reading the table.
    (
        "0012_case_location",
        """
        ALTER TABLE cases ADD COLUMN latitude REAL;
        ALTER TABLE cases ADD COLUMN longitude REAL;
        UPDATE cases SET latitude = json_extract(answers, '$.location.lat'),
            longitude = json_extract(answers, '$.location.lon')
            WHERE json_type(answers, '$.location') = 'object';
        CREATE INDEX cases_map ON cases(status, kelurahan_code, kind, created_at, contact_id);
        CREATE INDEX cases_located ON cases(id) WHERE latitude IS NOT NULL;
        CREATE INDEX cases_open_unassigned ON cases(status) WHERE assignee_id IS NULL;
        """,
    ),
    # Two-way conversations: one thread per case (both directions, in order; an outbound line's delivery
    # state is its outbox row's), staff questions that wait for an answer (several per contact), the
    # unread mark and waiting-since of the queue, urgency taken from the answers, canned replies, and a
    # staff account's Telegram user (for direct notices). Every outbox row about a case (status messages,
    # appointments, reminders, nudges) becomes a thread line by a trigger, whoever queues it. Existing
    # case messages and answers are copied in.
    (
        "0009_case_threads",
        """
        CREATE TABLE case_messages (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            at TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            kind TEXT NOT NULL,
            body TEXT,
            media_ref TEXT,
            author TEXT NOT NULL,
            outbox_id INTEGER REFERENCES outbox(id),
            question_id INTEGER,
            unread INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX case_messages_case ON case_messages(case_id, id);
        CREATE INDEX case_messages_outbox ON case_messages(outbox_id) WHERE outbox_id IS NOT NULL;
        CREATE TABLE staff_questions (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            contact_id TEXT NOT NULL REFERENCES contacts(id),
            question TEXT NOT NULL,
            outbox_id INTEGER REFERENCES outbox(id),
            asked_by TEXT NOT NULL,
            asked_at TEXT NOT NULL,
            answered_at TEXT
        );
        CREATE INDEX staff_questions_open ON staff_questions(contact_id) WHERE answered_at IS NULL;
        CREATE INDEX staff_questions_case ON staff_questions(case_id);
        CREATE TABLE canned_replies (
            id INTEGER PRIMARY KEY,
            language TEXT NOT NULL CHECK (language IN ('id', 'en')),
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        ALTER TABLE cases ADD COLUMN unread INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE cases ADD COLUMN waiting_since TEXT;
        ALTER TABLE cases ADD COLUMN urgency_rank INTEGER GENERATED ALWAYS AS (
            CASE json_extract(answers, '$.urgency') WHEN 'today' THEN 0 WHEN 'week' THEN 1
                WHEN 'later' THEN 2 ELSE 3 END
        ) VIRTUAL;
        CREATE INDEX cases_unread ON cases(
            id, kind, status, assignee_id, kecamatan_code, kelurahan_code, created_at
        ) WHERE unread > 0;
        CREATE INDEX cases_waiting ON cases(waiting_since) WHERE unread > 0;
        CREATE INDEX cases_urgency ON cases(urgency_rank, id DESC);
        CREATE INDEX cases_unread_urgency ON cases(urgency_rank, id DESC) WHERE unread > 0;
        ALTER TABLE contacts ADD COLUMN thread_case_id INTEGER REFERENCES cases(id);
        ALTER TABLE staff_users ADD COLUMN telegram_user_id INTEGER;
        CREATE UNIQUE INDEX staff_users_telegram ON staff_users(telegram_user_id)
            WHERE telegram_user_id IS NOT NULL;
        CREATE TRIGGER outbox_case_thread AFTER INSERT ON outbox WHEN NEW.case_id IS NOT NULL
        BEGIN
            INSERT INTO case_messages (case_id, at, direction, kind, body, author, outbox_id)
                VALUES (NEW.case_id, NEW.created_at, 'out',
                    CASE NEW.origin WHEN 'staff' THEN 'status' ELSE NEW.origin END,
                    json_extract(NEW.payload, '$.text'), NEW.origin, NEW.id);
            UPDATE contacts SET thread_case_id = NEW.case_id WHERE id = NEW.contact_id;
        END;
        INSERT INTO case_messages (case_id, at, direction, kind, body, author)
            SELECT id, created_at, 'in', 'text', json_extract(answers, '$.message.text'),
                'contact:' || contact_id FROM cases
            WHERE kind = 'message' AND json_extract(answers, '$.message.text') IS NOT NULL;
        INSERT INTO case_messages (case_id, at, direction, kind, body, author, outbox_id)
            SELECT case_id, created_at, 'out', 'status', json_extract(payload, '$.text'), 'staff', id
            FROM outbox WHERE case_id IS NOT NULL;
        INSERT INTO case_messages (case_id, at, direction, kind, body, author)
            SELECT case_id, at, 'in', 'answer', note, actor FROM case_events WHERE action = 'info_answered';
        INSERT INTO staff_questions (case_id, contact_id, question, asked_by, asked_at)
            SELECT c.id, c.contact_id, c.info_question, 'staff', c.updated_at FROM cases AS c
            JOIN contacts AS k ON k.awaiting_case_id = c.id
            WHERE c.status = 'perlu_info' AND c.info_question IS NOT NULL
        """,
    ),
    # Capacity at a million cases. Recovery finds rows left `sending` through their own small index;
    # inbound ids and finished outbox rows are found by age for the retention prune; the summary's
    # counts are kept up to date by triggers (per status, kind, place and assignment, and per hour of
    # creation) instead of being counted from the table; the queue and persons search names and
    # references through trigram indexes, NIK and KK numbers by keyed hash, and phone numbers by their
    # digits in one spelling (62...), whichever spelling was stored or typed.
    (
        "0013_i17c_capacity",
        f"""
        CREATE INDEX outbox_sending ON outbox(id) WHERE status = 'sending';
        CREATE INDEX inbound_received ON inbound(received_at);
        CREATE INDEX outbox_retention ON outbox(updated_at) WHERE {OUTBOX_PRUNABLE};
        CREATE INDEX cases_person ON cases(person_id) WHERE person_id IS NOT NULL;
        CREATE INDEX persons_kk_hash ON persons(kk_hash) WHERE kk_hash IS NOT NULL;
        ALTER TABLE cases ADD COLUMN kk_hash TEXT
            GENERATED ALWAYS AS (json_extract(answers, '$.kk.h')) VIRTUAL;
        CREATE INDEX cases_kk_hash ON cases(kk_hash) WHERE kk_hash IS NOT NULL;
        ALTER TABLE cases ADD COLUMN phone_key TEXT GENERATED ALWAYS AS (
            {phone_key_sql("json_extract(answers, '$.phone')")}
        ) VIRTUAL;
        CREATE INDEX cases_phone_key ON cases(phone_key) WHERE phone_key IS NOT NULL;
        ALTER TABLE persons ADD COLUMN phone_key TEXT GENERATED ALWAYS AS ({phone_key_sql("phone")}) VIRTUAL;
        CREATE INDEX persons_phone_key ON persons(phone_key) WHERE phone_key IS NOT NULL;
        ALTER TABLE contacts ADD COLUMN phone_key TEXT GENERATED ALWAYS AS (
            {phone_key_sql("COALESCE(phone, CASE WHEN id LIKE 'whatsapp:%' THEN substr(id, 10) END)")}
        ) VIRTUAL;
        CREATE INDEX contacts_phone_key ON contacts(phone_key) WHERE phone_key IS NOT NULL;
        CREATE VIRTUAL TABLE cases_fts USING fts5(words, content='', tokenize='trigram');
        INSERT INTO cases_fts (rowid, words) SELECT id, subject_name || ' ' || reference FROM cases;
        CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
            INSERT INTO cases_fts (rowid, words) VALUES (NEW.id, NEW.subject_name || ' ' || NEW.reference);
        END;
        CREATE TRIGGER cases_fts_update AFTER UPDATE OF subject_name, reference ON cases BEGIN
            INSERT INTO cases_fts (cases_fts, rowid, words)
                VALUES ('delete', OLD.id, OLD.subject_name || ' ' || OLD.reference);
            INSERT INTO cases_fts (rowid, words) VALUES (NEW.id, NEW.subject_name || ' ' || NEW.reference);
        END;
        CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
            INSERT INTO cases_fts (cases_fts, rowid, words)
                VALUES ('delete', OLD.id, OLD.subject_name || ' ' || OLD.reference);
        END;
        CREATE VIRTUAL TABLE persons_fts USING fts5(words, content='', tokenize='trigram');
        INSERT INTO persons_fts (rowid, words) SELECT id, full_name FROM persons;
        CREATE TRIGGER persons_fts_insert AFTER INSERT ON persons BEGIN
            INSERT INTO persons_fts (rowid, words) VALUES (NEW.id, NEW.full_name);
        END;
        CREATE TRIGGER persons_fts_update AFTER UPDATE OF full_name ON persons BEGIN
            INSERT INTO persons_fts (persons_fts, rowid, words) VALUES ('delete', OLD.id, OLD.full_name);
            INSERT INTO persons_fts (rowid, words) VALUES (NEW.id, NEW.full_name);
        END;
        CREATE TRIGGER persons_fts_delete AFTER DELETE ON persons BEGIN
            INSERT INTO persons_fts (persons_fts, rowid, words) VALUES ('delete', OLD.id, OLD.full_name);
        END;
        CREATE TABLE case_tally (
            status TEXT NOT NULL,
            kind TEXT NOT NULL,
            kecamatan_code TEXT NOT NULL,
            kelurahan_code TEXT NOT NULL,
            unassigned INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (status, kind, kecamatan_code, kelurahan_code, unassigned)
        ) WITHOUT ROWID;
        INSERT INTO case_tally
            SELECT status, kind, COALESCE(kecamatan_code, ''), COALESCE(kelurahan_code, ''),
                assignee_id IS NULL, COUNT(*) FROM cases GROUP BY 1, 2, 3, 4, 5;
        CREATE TABLE case_hours (
            hour TEXT PRIMARY KEY,
            n INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO case_hours SELECT substr(created_at, 1, 13), COUNT(*) FROM cases GROUP BY 1;
        CREATE TRIGGER case_tally_insert AFTER INSERT ON cases BEGIN
            {_tally_add("NEW")}
            INSERT INTO case_hours (hour, n) VALUES (substr(NEW.created_at, 1, 13), 1)
                ON CONFLICT (hour) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER case_tally_update AFTER UPDATE OF status, kind, kecamatan_code, kelurahan_code,
            assignee_id ON cases BEGIN
            {_tally_remove("OLD")}
            {_tally_add("NEW")}
        END;
        CREATE TRIGGER case_tally_delete AFTER DELETE ON cases BEGIN
            {_tally_remove("OLD")}
            UPDATE case_hours SET n = n - 1 WHERE hour = substr(OLD.created_at, 1, 13);
        END;
        """,
    ),
    # The counts per hour of creation are kept per kind and open or not too (open cases filed before a
    # date are then counted without reading cases), and the queue's filter columns get a narrow index of
    # their own (a name search checks each match there instead of in its wide row).
    (
        "0013_i17c_counts_by_kind",
        f"""
        DROP TRIGGER case_tally_insert;
        DROP TRIGGER case_tally_update;
        DROP TRIGGER case_tally_delete;
        DROP TABLE case_hours;
        CREATE TABLE case_hours (
            kind TEXT NOT NULL,
            open INTEGER NOT NULL,
            hour TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (kind, open, hour)
        ) WITHOUT ROWID;
        INSERT INTO case_hours
            SELECT kind, status IN ('baru', 'diproses', 'perlu_info'), substr(created_at, 1, 13), COUNT(*)
            FROM cases GROUP BY 1, 2, 3;
        CREATE TRIGGER case_tally_insert AFTER INSERT ON cases BEGIN
            {_tally_add("NEW")}
            {_hours_add("NEW")}
        END;
        CREATE TRIGGER case_tally_update AFTER UPDATE OF status, kind, kecamatan_code, kelurahan_code,
            assignee_id ON cases BEGIN
            {_tally_remove("OLD")}
            {_tally_add("NEW")}
            {_hours_remove("OLD")}
            {_hours_add("NEW")}
        END;
        CREATE TRIGGER case_tally_delete AFTER DELETE ON cases BEGIN
            {_tally_remove("OLD")}
            {_hours_remove("OLD")}
        END;
        CREATE INDEX cases_filters ON cases(
            id, status, kind, kecamatan_code, kelurahan_code, assignee_id, created_at, urgency_rank
        );
        """,
    ),
    (
        "0013_i14_case_age",
        # Cases past their working-day target: per open status and kind, those received before a cut-off
        # (counted from the index alone, for the summary and the queue's "lewat batas").
        """
        CREATE INDEX cases_status_kind_created ON cases(status, kind, created_at);
        """,
    ),
    Migration(
        "0014_i13rep_leases",
        # Several service processes on one database: a named lease has one holder until it expires
        # (the outreach ticker, the Telegram poller, each live process's own `replica:` lease); an
        # outbox row records the process that took it (`claimed_by`, a `replica:` lease name), so rows
        # a dead process left `sending` are found and rows a live one is sending are left alone.
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
        """,
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
        """,
    ),
    Migration(
        "0015_lead_media_files",
        # Received files shared between processes on one database (`storage.media`): bytes kept by the
        # process that received them, copied by the others; a deleted file keeps its row without bytes.
        """
        CREATE TABLE media_files (
            ref TEXT PRIMARY KEY,
            body BLOB,
            version INTEGER NOT NULL UNIQUE,
            updated_at TEXT NOT NULL
        );
        """,
        """
        CREATE SEQUENCE media_version;
        CREATE TABLE media_files (
            ref TEXT PRIMARY KEY,
            body BYTEA,
            version BIGINT NOT NULL UNIQUE,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0015_i17exp_name_filters",
        # A name searched with the queue's filters (status, kind, kecamatan, kelurahan): on PostgreSQL the
        # trigram index holds those columns too (btree_gin), so only the cases that match both are read
        # again from the table (one page per case); it replaces the name-only trigram index, which it
        # serves as well (ANALYZE: the planner's statistics of the indexed expression went with the old
        # index). SQLite already checks its trigram matches in the narrow `cases_filters` index.
        "",
        """
        CREATE EXTENSION IF NOT EXISTS btree_gin;
        CREATE INDEX cases_words_filters_trgm ON cases USING gin (
            (subject_name || ' ' || reference) gin_trgm_ops, status, kind, kecamatan_code, kelurahan_code
        );
        DROP INDEX cases_words_trgm;
        ANALYZE cases;
        """,
    ),
]


def postgresql_sql(entry: tuple[str, str]) -> str | None:
    """An entry's PostgreSQL SQL (None when it has none)."""
    return entry.postgresql if isinstance(entry, Migration) else None


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded, in order, to a SQLite store; return the names applied."""
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
    # executescript would commit implicitly; split so each migration stays one transaction. A trigger's
    # body holds semicolons of its own: parts are joined until SQLite says the statement is complete.
    statements: list[str] = []
    current = ""
    for part in sql.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip().strip(";").strip():
                statements.append(current.strip().removesuffix(";"))
            current = ""
    return statements
