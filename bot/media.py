"""Files people send (photos, voice notes, documents), kept in the data directory.

Platforms give short-lived handles (a WhatsApp media URL lives 5 minutes), so channels download a file
as soon as it arrives and the flows store the returned reference, which links it to the case.
"""

import mimetypes
import os
import uuid
from datetime import datetime
from pathlib import Path

MAX_MEDIA_BYTES = 20 * 1024 * 1024


class MediaStore:
    """Saves media under `<data_dir>/media/YYYY/MM/` and resolves references back to paths."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "media"

    def save(self, data: bytes, *, mime: str | None, at: datetime) -> str:
        """Write the bytes; return a reference like `media/2026/11/<uuid>.jpg`."""
        if len(data) > MAX_MEDIA_BYTES:
            raise ValueError("media file too large")
        extension = mimetypes.guess_extension((mime or "").split(";")[0].strip()) or ".bin"
        folder = self.root / f"{at:%Y}" / f"{at:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}{extension}"
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return f"media/{at:%Y}/{at:%m}/{name}"

    def path(self, reference: str) -> Path:
        """The file of a reference, refusing anything outside the media folder."""
        candidate = (self.root.parent / reference).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise ValueError("not a media reference")
        return candidate
