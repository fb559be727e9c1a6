"""Logging set-up with a last line of defence: identity and phone numbers are masked in every record."""

import logging
import re
import sys

# 16-digit NIK/KK numbers (with optional separators) and phone numbers (+62 / 62 / 08...).
_SENSITIVE = re.compile(
    r"(?<!\d)(?:\d[ .-]?){15}\d(?!\d)"
    r"|(?<![\w])(?:\+?62|0)8\d(?:[ .-]?\d){6,11}(?!\d)"
)


def redact(text: str) -> str:
    """Replace anything shaped like a NIK, KK or phone number."""
    return _SENSITIVE.sub("[disamarkan]", text)


class RedactingFilter(logging.Filter):
    """Masks sensitive numbers in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with redaction; quiet the HTTP libraries' request lines (they hold tokens)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
