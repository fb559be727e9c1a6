"""Contacts beyond the conversation step: language, voice preference, reachability and flooding, what the
my-data views read, where a contact's messages sit in case threads, the office's recorded voice prompts
and the media ids a platform gave a voice note, and voice answers waiting for staff to listen.

Write functions take a `Tx` and run inside one write transaction; reads are coroutines on the `Store`.
(The contact row itself, its conversation and the inbound ids are kept by `storage.repo`.)
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.contract import Store, Tx
from storage.records import CaseRecord
from storage.repo import case_from_row, iso

# ---------------------------------------------------------------- the contact's own settings


async def language_of(db: Store, contact_id: str) -> str | None:
    """The language a contact chose (None when unknown or not chosen)."""
    value = await db.fetchval("SELECT language FROM contacts WHERE id = ?", (contact_id,))
    return str(value) if value else None


def set_voice(tx: Tx, contact_id: str, on: bool) -> None:
    """Switch voice notes on or off for a contact."""
    tx.execute("UPDATE contacts SET voice = ? WHERE id = ?", (int(on), contact_id))


def set_unreachable(tx: Tx, contact_id: str, unreachable: bool) -> None:
    """Note that the contact blocked the service (or unblocked it)."""
    tx.execute("UPDATE contacts SET unreachable = ? WHERE id = ?", (int(unreachable), contact_id))


def mark_flooding(tx: Tx, contact_id: str, *, waiting: int, at: datetime) -> None:
    """Note that a contact (by either address) sent far more than could be answered at once."""
    tx.execute(
        "UPDATE contacts SET flooded_at = ?, flood_waiting = ? WHERE id = ? OR alt_id = ?",
        (iso(at), waiting, contact_id, contact_id),
    )


# ---------------------------------------------------------------- my data


@dataclass(frozen=True, slots=True)
class ServiceConsent:
    """When a contact agreed to the service's notice, and to which version."""

    at: datetime
    notice_version: str


async def service_consent(db: Store, contact_id: str) -> ServiceConsent | None:
    """The contact's standing consent to the service (the newest one not withdrawn)."""
    row = await db.fetchone(
        "SELECT at, notice_version FROM consents WHERE contact_id = ? AND purpose = 'service' "
        "AND granted = 1 AND withdrawn_at IS NULL ORDER BY id DESC LIMIT 1",
        (contact_id,),
    )
    if row is None:
        return None
    return ServiceConsent(datetime.fromisoformat(row["at"]), str(row["notice_version"]))


def case_ids_of_person(tx: Tx, person_id: int) -> list[int]:
    """The ids of the cases about a person."""
    rows = tx.execute("SELECT id FROM cases WHERE person_id = ? ORDER BY id", (person_id,)).fetchall()
    return [int(row[0]) for row in rows]


# ---------------------------------------------------------------- a contact's lines in case threads


def case_id_of(tx: Tx, reference: str) -> int | None:
    """The id of the case with this reference (None when there is none)."""
    row = tx.execute("SELECT id FROM cases WHERE reference = ?", (reference,)).fetchone()
    return None if row is None else int(row[0])


def line_written_at(tx: Tx, case_id: int, author: str, at: datetime) -> int | None:
    """The newest thread line of a case that `author` wrote at `at` (None when there is none)."""
    row = tx.execute(
        "SELECT id FROM case_messages WHERE case_id = ? AND author = ? AND at = ? ORDER BY id DESC LIMIT 1",
        (case_id, author, iso(at)),
    ).fetchone()
    return None if row is None else int(row[0])


# ---------------------------------------------------------------- voice notes: uploads and prompts


@dataclass(frozen=True, slots=True)
class VoiceUpload:
    """The id a platform gave an uploaded voice note, and when it was uploaded."""

    media_id: str
    uploaded_at: datetime


async def voice_upload(db: Store, channel: str, audio: str) -> VoiceUpload | None:
    """The upload kept for a voice note on a channel (None when there is none)."""
    row = await db.fetchone(
        "SELECT media_id, uploaded_at FROM voice_uploads WHERE channel = ? AND audio = ?", (channel, audio)
    )
    if row is None:
        return None
    return VoiceUpload(str(row["media_id"]), datetime.fromisoformat(row["uploaded_at"]))


def save_voice_upload(tx: Tx, channel: str, audio: str, media_id: str, at: datetime) -> None:
    """Keep (or replace) the id a platform gave a voice note uploaded at `at`."""
    tx.execute(
        "INSERT INTO voice_uploads (channel, audio, media_id, uploaded_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (channel, audio) DO UPDATE SET media_id = excluded.media_id, "
        "uploaded_at = excluded.uploaded_at",
        (channel, audio, media_id, iso(at)),
    )


@dataclass(frozen=True, slots=True)
class VoicePrompt:
    """A recording of one prompt in one language, made or uploaded by staff."""

    language: str
    slot: str
    file: str
    duration_ms: int
    source: str
    recorded_by: str
    updated_at: datetime


async def voice_prompts(db: Store, language: str) -> list[VoicePrompt]:
    """The recordings kept for a language."""
    rows = await db.fetchall(
        "SELECT language, slot, file, duration_ms, source, recorded_by, updated_at FROM voice_prompts "
        "WHERE language = ? ORDER BY slot",
        (language,),
    )
    return [
        VoicePrompt(
            language=str(row["language"]),
            slot=str(row["slot"]),
            file=str(row["file"]),
            duration_ms=int(row["duration_ms"]),
            source=str(row["source"]),
            recorded_by=str(row["recorded_by"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
        )
        for row in rows
    ]


def save_voice_prompt(tx: Tx, prompt: VoicePrompt) -> None:
    """Keep (or replace) the recording of a prompt."""
    tx.execute(
        "INSERT INTO voice_prompts (language, slot, file, duration_ms, source, recorded_by, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (language, slot) DO UPDATE SET file = excluded.file, "
        "duration_ms = excluded.duration_ms, source = excluded.source, "
        "recorded_by = excluded.recorded_by, updated_at = excluded.updated_at",
        (
            prompt.language,
            prompt.slot,
            prompt.file,
            prompt.duration_ms,
            prompt.source,
            prompt.recorded_by,
            iso(prompt.updated_at),
        ),
    )


def forget_voice_prompt(tx: Tx, language: str, slot: str) -> None:
    """Forget the recording of a prompt."""
    tx.execute("DELETE FROM voice_prompts WHERE language = ? AND slot = ?", (language, slot))


# ---------------------------------------------------------------- voice answers staff listen to

# How an answer kept as a voice note reads in a case's stored answers (its flag's `"why": "media"`).
_MEDIA_ANSWER_PATTERN = '%"why": "media"%'


async def cases_with_voice_answers(db: Store, limit: int) -> list[CaseRecord]:
    """Cases with an answer given as a voice note (heard or not), oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM cases WHERE answers LIKE ? ORDER BY id LIMIT ?", (_MEDIA_ANSWER_PATTERN, limit)
    )
    return [case_from_row(row) for row in rows]


def case_answers(tx: Tx, case_id: int) -> dict[str, Any] | None:
    """A case's answers as they are inside this transaction (None when there is no such case)."""
    row = tx.execute("SELECT answers FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        return None
    answers: dict[str, Any] = json.loads(row[0])
    return answers


def set_case_answers(tx: Tx, case_id: int, answers: dict[str, Any], at: datetime) -> None:
    """Replace a case's answers (staff typed out a voice answer)."""
    tx.execute(
        "UPDATE cases SET answers = ?, updated_at = ? WHERE id = ?",
        (json.dumps(answers, ensure_ascii=False), iso(at), case_id),
    )
