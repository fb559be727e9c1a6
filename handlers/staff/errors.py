"""Errors of the staff service as codes: each surface (the command line, the Telegram staff group, the
dashboard) says them in its own words and language; the English message is for logs and tracebacks."""

# Every code the staff service raises, with the parameters its sentence may use.
CODES: dict[str, tuple[str, ...]] = {
    "no_case": ("reference",),
    "transition": ("reference", "current", "to", "allowed"),
    "reason_needed": (),
    "question_needed": (),
    "reply_empty": (),
    "reply_too_long": ("limit",),
    "no_consent": ("reference",),
    "no_staff": ("officer",),
    "note_empty": (),
    "note_too_long": ("limit",),
    "appointment_place": (),
    "appointment_past": (),
    "needs_everyone": (),
    "segment_unknown": ("value",),
    "segment_date": ("value",),
    "segment_dates": (),
    "needs_text": (),
    "bad_time": ("text",),
    "time_past": (),
    "refused": (),
}


class StaffError(ValueError):
    """A staff action that cannot be done. `code` (one of CODES) and `params` name the reason; every
    surface words it from its own catalog."""

    def __init__(self, message: str, code: str = "refused", /, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params

    @property
    def key(self) -> str:
        """The code (the command line's sentence `cli.<key>`)."""
        return self.code
