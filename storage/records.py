"""Stored records (pydantic), one per table, with the vocabularies they use."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from storage.crypto import Sealed


class CaseKind(StrEnum):
    """What a case is about; the value is the reference prefix's source."""

    REGISTRATION = "registration"
    LOST_KTP = "lost_ktp"
    AID = "aid"
    MESSAGE = "message"


REFERENCE_PREFIX: dict[CaseKind, str] = {
    CaseKind.REGISTRATION: "REG",
    CaseKind.LOST_KTP: "KTP",
    CaseKind.AID: "BAN",
    CaseKind.MESSAGE: "PSN",
}


class CaseStatus(StrEnum):
    """Where a case stands in review."""

    BARU = "baru"
    DIPROSES = "diproses"
    PERLU_INFO = "perlu_info"
    DISETUJUI = "disetujui"
    DITOLAK = "ditolak"
    SELESAI = "selesai"


ALLOWED_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.BARU: frozenset(
        {CaseStatus.DIPROSES, CaseStatus.PERLU_INFO, CaseStatus.DISETUJUI, CaseStatus.DITOLAK}
    ),
    CaseStatus.DIPROSES: frozenset({CaseStatus.PERLU_INFO, CaseStatus.DISETUJUI, CaseStatus.DITOLAK}),
    CaseStatus.PERLU_INFO: frozenset({CaseStatus.DIPROSES, CaseStatus.DISETUJUI, CaseStatus.DITOLAK}),
    CaseStatus.DISETUJUI: frozenset({CaseStatus.SELESAI}),
    CaseStatus.DITOLAK: frozenset({CaseStatus.SELESAI}),
    CaseStatus.SELESAI: frozenset(),
}


class Consent(StrEnum):
    """A contact's answer to the privacy notice."""

    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class OutboxStatus(StrEnum):
    """Life of an outbound message: a row first, then the send, then its result."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    HELD = "held"
    FAILED = "failed"
    UNKNOWN = "unknown"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class Record(BaseModel):
    """Base of stored records: validated on the way out of the database."""

    model_config = ConfigDict(validate_assignment=False, extra="ignore")


class ContactRecord(Record):
    """Who is chatting: a channel address, not a registered person."""

    id: str
    channel: str
    alt_id: str | None = None
    display_name: str | None = None
    phone: str | None = None
    language: str = "id"
    consent: Consent | None = None
    consent_version: str | None = None
    opted_out: bool = False
    unreachable: bool = False
    awaiting_case_id: int | None = None
    last_inbound_at: datetime | None = None
    # Every message also spoken as a voice note (changed by a targeted update, see handlers.voice).
    voice: bool = False
    created_at: datetime
    updated_at: datetime


class ConversationRecord(Record):
    """Where a contact is in a flow, with the draft answers so far."""

    contact_id: str
    flow: str
    step: str
    data: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    updated_at: datetime


class PersonRecord(Record):
    """Someone registered, by themselves or by a field worker."""

    id: int | None = None
    registered_by: str
    is_self: bool
    full_name: str
    nik: Sealed | None = None
    kk: Sealed | None = None
    birth_date: date | None = None
    # "day" (or None: a full date), "month", "year", or "age" (a year worked out from an age).
    birth_precision: str | None = None
    sex: str | None = None
    phone: str | None = None
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    household_size: int | None = None
    skills: list[str] = Field(default_factory=list)
    disaster_victim: bool | None = None
    documents: list[str] = Field(default_factory=list)
    aid_received: list[str] = Field(default_factory=list)
    # Who agreed to the registration: "self", "person" (registered by a field worker) or "guardian".
    agreed_by: str | None = None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class CaseRecord(Record):
    """A submission staff review."""

    id: int | None = None
    reference: str
    kind: CaseKind
    status: CaseStatus = CaseStatus.BARU
    person_id: int | None = None
    contact_id: str
    subject_name: str
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    # Where the person shared their location, if they did (shown to staff on maps).
    latitude: float | None = None
    longitude: float | None = None
    answers: dict[str, Any] = Field(default_factory=dict)
    nik_hash: str | None = None
    duplicate_of: str | None = None
    info_question: str | None = None
    citizen_note: str | None = None
    created_at: datetime
    updated_at: datetime


class CaseEventRecord(Record):
    """One entry of a case's audit trail."""

    id: int | None = None
    case_id: int
    at: datetime
    actor: str
    action: str
    from_status: CaseStatus | None = None
    to_status: CaseStatus | None = None
    note: str | None = None
    citizen_notified: bool = False


class OutboxRecord(Record):
    """One outbound message and what became of it."""

    id: int
    contact_id: str
    origin: str
    payload: str
    status: OutboxStatus
    error: str | None = None
    attempts: int = 0
    case_id: int | None = None
    external_id: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    # The reply object this row's payload was written from, when this process just wrote it (saves
    # reading the payload back); never stored.
    _reply: object = PrivateAttr(default=None)
    # Written `sending` by this process's turn, an in-flight slot held for it: its request leaves next.
    _taken: bool = PrivateAttr(default=False)

    @property
    def reply(self) -> object:
        """The reply object behind the payload, when known (None otherwise)."""
        return self._reply
