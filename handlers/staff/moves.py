"""Which status a case may move to next, and which moves need a note from staff (the reason of a
rejection, the question for the citizen). `handlers.casework.change_status` enforces these; every staff
surface offers and asks by them (the dashboard's form, the Telegram group's buttons and prompts)."""

from storage.records import ALLOWED_TRANSITIONS, CaseStatus

# A move to these statuses needs a note the citizen will read; the value is the refusal's code.
NOTE_NEEDED: dict[CaseStatus, str] = {
    CaseStatus.DITOLAK: "reason_needed",
    CaseStatus.PERLU_INFO: "question_needed",
}


def allowed_moves(current: CaseStatus) -> list[CaseStatus]:
    """The statuses a case may move to from `current`, in the order of the statuses."""
    return sorted(ALLOWED_TRANSITIONS[current], key=list(CaseStatus).index)


def may_move(current: CaseStatus, to_status: CaseStatus | str) -> bool:
    """Whether a case may go from `current` to `to_status`."""
    return str(to_status) in {str(status) for status in ALLOWED_TRANSITIONS[current]}


def note_needed(to_status: CaseStatus) -> str | None:
    """The refusal code when a move to `to_status` is made without a note (None: a note is optional)."""
    return NOTE_NEEDED.get(to_status)
