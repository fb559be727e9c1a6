"""Logging set-up with a last line of defence: identity and phone numbers are masked in every record."""

import logging
import re
import sys

# 16-digit NIK/KK numbers (with optional separators) and phone numbers (+62 / 62 / 08...), also as
# people and WhatsApp write them: "+62 812-3456-7890", "(0812) 3456 7890", or glued to letters.
_SENSITIVE = re.compile(
    r"(?<!\d)(?:\d[ .-]?){15}\d(?!\d)"
    r"|(?<!\d)(?:\+?62[ .-]?|\(?0)8\d(?:\)?[ .-]?\d){6,11}(?!\d)"
)


MAX_MESSAGE = 2000  # characters of one log message; a 200 KB field is cut, not copied into the log


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}...[+{len(text) - limit} chars]"


def redact(text: str) -> str:
    """Replace anything shaped like a NIK, KK or phone number."""
    return _SENSITIVE.sub("[disamarkan]", text)


class RedactingFilter(logging.Filter):
    """Masks sensitive numbers in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(shorten(message))
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Exception messages can quote user input; format the traceback now, masked.
            record.exc_text = redact(shorten(_FORMATTER.formatException(record.exc_info), 20_000))
        return True


_FORMATTER = logging.Formatter()


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr with redaction; quiet the HTTP libraries' request lines (they hold tokens)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Their debug lines carry URLs with tokens, request bodies or query parameters.
    for noisy in (
        "httpx",
        "httpcore",
        "aiosqlite",
        "apscheduler",
        "telegram",
        "pywa",
        "pywa_async",
        "aiohttp",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
