"""Segments: who a broadcast, reminder or invitation reaches.

A segment combines filters (all of them must hold). Contacts who do not receive information messages (they
did not choose "Setuju + terima info", a consent of its own, or chose BERHENTI INFO later: `opted_out`),
who blocked the bot (unreachable), or who have not agreed to the privacy notice are always excluded. A field
worker who registered several people in a kecamatan is one contact and receives one message. The store
selects the contacts (`storage.segments.segment_where`, also importable from here). Staff build one from
what they typed or picked with `handlers.staff.segments.build_segment`, and read it in words (Indonesian
or English) with `handlers.staff.compose.describe_segment`.
"""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

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
