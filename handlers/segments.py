"""Segments: who a broadcast, reminder or invitation reaches.

A segment combines filters (all of them must hold). Contacts who do not receive information messages (they
did not choose "Setuju + terima info", a consent of its own, or chose BERHENTI INFO later: `opted_out`),
who blocked the bot (unreachable), or who have not agreed to the privacy notice are always excluded. A field
worker who registered several people in a kecamatan is one contact and receives one message. The store
selects the contacts (`storage.segments.segment_where`, also importable from here).
"""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from handlers.places import Places
from storage.records import CaseKind, CaseStatus
from storage.segments import segment_where

__all__ = ["Segment", "segment_where"]


class Segment(BaseModel):
    """Filters on registered people and their cases.

    No filter selects every reachable contact, and a broadcast or an invitation only goes to such a segment
    when staff chose it explicitly (`everyone`): an empty form must never mean "send to all".
    """

    model_config = ConfigDict(extra="forbid")

    kecamatan: list[str] = Field(default_factory=list)
    kelurahan: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    case_kinds: list[CaseKind] = Field(default_factory=list)
    case_statuses: list[CaseStatus] = Field(default_factory=list)
    disaster_victim: bool | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    language: str | None = None
    everyone: bool = False

    def has_filters(self) -> bool:
        """Whether any filter narrows the segment (`everyone` is not a filter)."""
        return self.model_copy(update={"everyone": False}) != Segment()

    def chosen(self) -> bool:
        """Whether staff chose who it reaches: some filter, or "semua warga" explicitly."""
        return self.everyone or self.has_filters()

    def describe(self, places: Places) -> str:
        """A short human description for previews and reports."""
        parts: list[str] = []
        if self.kecamatan:
            parts.append("kecamatan " + ", ".join(places.kecamatan_by_code(c).name for c in self.kecamatan))
        if self.kelurahan:
            parts.append("kelurahan " + ", ".join(places.kelurahan_by_code(c).name for c in self.kelurahan))
        if self.skills:
            parts.append("keterampilan " + ", ".join(self.skills))
        if self.case_kinds:
            parts.append("jenis kasus " + ", ".join(self.case_kinds))
        if self.case_statuses:
            parts.append("status " + ", ".join(self.case_statuses))
        if self.disaster_victim is not None:
            parts.append("korban bencana" if self.disaster_victim else "bukan korban bencana")
        if self.registered_from or self.registered_to:
            parts.append(f"terdaftar {self.registered_from or '...'} s/d {self.registered_to or '...'}")
        if self.language:
            parts.append(f"bahasa {self.language}")
        return "; ".join(parts) or "semua warga terdaftar"
