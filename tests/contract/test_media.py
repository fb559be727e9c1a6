"""Received files shared between processes on one database (`storage.media`, `bot.media.MediaShare`).

Two processes, each with its own data directory and its own connection to the store: a photo one of them
received is copied into the other's directory (so the dashboard and staff group served by either show
it); a file deleted by one (a person erased their data) is deleted from the other's directory too; files
received before the processes shared a database are shared at start.
"""

from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bot.media import MediaShare, MediaStore
from storage import media
from storage.contract import Store

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PHOTO = b"\xff\xd8\xff\xe0 photo of a burned KTP"
VOICE = b"OggS voice note"
A, B, GONE = "media/2026/03/a.jpg", "media/2026/03/b.ogg", "media/2026/03/gone.jpg"


def clock() -> datetime:
    return AT


async def test_files_kept_and_deleted_are_listed_in_the_order_they_changed(store: Store) -> None:
    assert await store.write(partial(media.keep, ref=A, body=PHOTO, at=AT))
    assert await store.write(partial(media.keep, ref=B, body=VOICE, at=AT))
    assert not await store.write(partial(media.keep, ref=A, body=b"other", at=AT))
    assert await media.body(store, A) == PHOTO
    listed = await media.changes(store, 0, 10)
    assert [(c.ref, c.present) for c in listed] == [
        (A, True),
        (B, True),
    ]

    await store.write(partial(media.forget, refs=[A, GONE], at=AT))
    after = await media.changes(store, listed[-1].version, 10)
    assert [(c.ref, c.present) for c in after] == [
        (A, False),
        (GONE, False),
    ]
    assert await media.body(store, A) is None
    # A process that saw the file before it was deleted cannot bring it back.
    assert not await store.write(partial(media.keep, ref=A, body=PHOTO, at=AT))
    assert await media.body(store, A) is None
    assert await media.known(store, [A, B, "media/x.jpg"]) == {
        A,
        B,
    }


async def test_a_file_one_process_received_reaches_the_other_and_an_erasure_reaches_both(
    store: Store, other: Store, tmp_path: Path
) -> None:
    here, there = MediaStore(tmp_path / "a"), MediaStore(tmp_path / "b")
    # Received before the store was shared (a SQLite office moved to PostgreSQL): shared at start.
    old = here.save(VOICE, mime="audio/ogg", at=AT)
    assert here.unshared is None  # nothing is remembered while the directory is not shared
    mine, theirs = MediaShare(store, here, clock), MediaShare(other, there, clock)
    assert await mine.push_all() == 1
    assert await mine.push_all() == 0

    photo = here.save(PHOTO, mime="image/jpeg", at=AT)
    assert not there.path(photo).exists()
    assert await mine.push() == 1
    assert await theirs.pull() == 2
    assert there.path(photo).read_bytes() == PHOTO
    assert there.path(old).read_bytes() == VOICE
    assert await theirs.pull() == 0  # nothing new

    # The person erased their data on the other process: its copy goes, then this one.
    there.path(photo).unlink()
    await other.write(partial(media.forget, refs=[photo], at=AT))
    assert await mine.pull() == 1
    assert not here.path(photo).exists()
    assert here.path(old).exists()
    assert await mine.push_all() == 0  # nothing to share again
