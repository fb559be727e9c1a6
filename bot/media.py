"""Files people send (photos, voice notes, documents), kept in the data directory.

Platforms give short-lived handles (a WhatsApp media URL lives 5 minutes), so channels download a file
as soon as it arrives and the flows store the returned reference, which links it to the case.

With several processes on one PostgreSQL database each has its own data directory: `MediaShare` keeps
the files this process received in the database and copies those the others received into this
directory (and deletes the copies of files deleted anywhere), so every process can show every file.
"""

import asyncio
import logging
import mimetypes
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path

from storage import media as shared
from storage.contract import Store

log = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 20 * 1024 * 1024


class MediaStore:
    """Saves media under `<data_dir>/media/YYYY/MM/` and resolves references back to paths."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "media"
        # References saved here and not yet handed to the other processes (only while a `MediaShare`
        # shares this directory; None otherwise).
        self.unshared: deque[str] | None = None

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
        reference = f"media/{at:%Y}/{at:%m}/{name}"
        if self.unshared is not None:
            self.unshared.append(reference)
        return reference

    def path(self, reference: str) -> Path:
        """The file of a reference, refusing anything outside the media folder."""
        candidate = (self.root.parent / reference).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise ValueError("not a media reference")
        return candidate

    def write(self, reference: str, data: bytes) -> None:
        """Put a file another process received in place (written whole, then moved into its name)."""
        path = self.path(reference)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(part, path)

    def references(self) -> Iterator[str]:
        """Every file here, as references."""
        for folder, _, names in os.walk(self.root):
            for name in names:
                if not name.startswith("."):
                    yield str(Path(folder, name).relative_to(self.root.parent))


# How often a process shares its new files and copies the others' (seconds).
MEDIA_SHARE_SECONDS = 2.0
# Changes read again at each look: a process's change may commit after a later-numbered one of another.
LOOK_BACK = 256
BATCH = 200


class MediaShare:
    """Shares this process's received files with the other processes of one database (see above)."""

    def __init__(self, db: Store, media: MediaStore, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.media = media
        self.clock = clock
        self.seen = 0  # the last change this process looked at
        self.unshared = media.unshared = deque()

    async def push(self) -> int:
        """Keep in the database the files saved here since the last push; return how many."""
        count = 0
        while self.unshared:
            count += await self._keep(self.unshared.popleft())
        return count

    async def push_all(self) -> int:
        """Keep every file here the database does not know yet (those received before the store moved to
        PostgreSQL, or just before a crash); return how many."""
        refs = await asyncio.to_thread(lambda: list(self.media.references()))
        count = 0
        for start in range(0, len(refs), BATCH):
            batch = refs[start : start + BATCH]
            known = await shared.known(self.db, batch)
            for ref in batch:
                if ref not in known:
                    count += await self._keep(ref)
        return count

    async def _keep(self, ref: str) -> int:
        try:
            data = await asyncio.to_thread(self.media.path(ref).read_bytes)
        except (OSError, ValueError):
            return 0  # deleted meanwhile
        return int(await self.db.write(partial(shared.keep, ref=ref, body=data, at=self.clock())))

    async def pull(self) -> int:
        """Copy here the files the other processes kept, and delete copies of deleted files; return how
        many files changed here."""
        count = 0
        since = max(0, self.seen - LOOK_BACK)
        while True:
            changes = await shared.changes(self.db, since, BATCH)
            for change in changes:
                count += await self._apply(change)
            if changes:
                since = changes[-1].version
                self.seen = max(self.seen, since)
            if len(changes) < BATCH:
                return count

    async def _apply(self, change: shared.Change) -> int:
        try:
            path = self.media.path(change.ref)
        except ValueError:
            return 0
        exists = await asyncio.to_thread(path.exists)
        if not change.present:
            if exists:
                await asyncio.to_thread(partial(path.unlink, missing_ok=True))
            return int(exists)
        if exists:
            return 0
        data = await shared.body(self.db, change.ref)
        if data is None:
            return 0  # deleted since
        await asyncio.to_thread(self.media.write, change.ref, data)
        return 1

    async def run(self, every: float) -> None:
        """Share until cancelled: everything at start, then every `every` seconds."""
        try:
            pushed = await self.push_all()
            if pushed:
                log.info("%d received files were shared with the other processes", pushed)
        except Exception:
            log.exception("the received files here could not be shared with the other processes")
        while True:
            try:
                await self.push()
                await self.pull()
            except Exception:
                log.exception("received files could not be shared with the other processes")
            await asyncio.sleep(every)
