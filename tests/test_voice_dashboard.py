"""The "Suara" page through HTTP: staff see which prompts are recorded and which are synthesised, upload a
recording (converted to OGG/Opus, listed with its length), replace and remove it; bad files and wrong roles
change nothing. The simulator plays the voice note of each reply in voice mode."""

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.i18n import Catalog
from tests.dashboard_support import Desk, csrf_of, open_desk
from tests.support import Clock

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


async def tone(seconds: float, container: str = "mp3") -> bytes:
    done = await asyncio.to_thread(
        subprocess.run,
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=330:duration={seconds}",
            "-f",
            container,
            "-",
        ],
        capture_output=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def test_staff_upload_listen_replace_and_remove_a_prompt(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    page = await desk.client.get("/voice?section=menu")
    assert page.status_code == 200 and CITIZEN.text("id", "menu.prompt") in page.text
    assert ui("voice.synthesised") in page.text and "0 dari " in page.text
    # A sentence with a placeholder is recorded in pieces around it.
    page = await desk.client.get("/voice?section=voice")
    assert 'data-slot="voice.choice~1"' in page.text and 'data-slot="voice.choice~2"' in page.text

    files = {"audio": ("pesan.mp3", await tone(2.0), "audio/mpeg")}
    saved = await desk.client.post("/voice/id/menu.prompt", data={"csrf_token": csrf}, files=files)
    assert saved.status_code == 303 and "done=voice_saved" in saved.headers["location"]
    [row] = await desk.rows("SELECT slot, duration_ms, source, recorded_by FROM voice_prompts")
    assert row["slot"] == "menu.prompt" and 1900 < row["duration_ms"] < 2200
    assert (row["source"], row["recorded_by"]) == ("uploaded", "staff:siti")
    page = await desk.client.get("/voice?section=menu")
    assert ui("voice.recorded", seconds="2.0") in page.text
    played = await desk.client.get("/voice/audio/id/menu.prompt")
    assert played.headers["content-type"] == "audio/ogg" and played.content[:4] == b"OggS"

    # Replaced by a longer one; a file that is not audio changes nothing.
    files = {"audio": ("lagi.wav", await tone(3.0, "wav"), "audio/wav")}
    await desk.client.post("/voice/id/menu.prompt", data={"csrf_token": csrf}, files=files)
    files = {"audio": ("virus.exe", b"MZ not audio", "application/octet-stream")}
    bad = await desk.client.post("/voice/id/menu.prompt", data={"csrf_token": csrf}, files=files)
    assert "done=voice_unreadable" in bad.headers["location"]
    [row] = await desk.rows("SELECT duration_ms FROM voice_prompts")
    assert 2900 < row["duration_ms"] < 3200
    actions = [
        r["action"] for r in await desk.rows("SELECT action FROM audit_log WHERE action LIKE 'voice.%'")
    ]
    assert actions == ["voice.uploaded", "voice.uploaded", "voice.refused"]

    removed = await desk.client.post("/voice/id/menu.prompt/remove", data={"csrf_token": csrf})
    assert "done=voice_removed" in removed.headers["location"]
    assert await desk.rows("SELECT slot FROM voice_prompts") == []
    assert (await desk.client.get("/voice/audio/id/menu.prompt")).status_code == 404
    # A prompt the catalog does not have cannot be written to, whatever the path says.
    files = {"audio": ("x.mp3", await tone(1.0), "audio/mpeg")}
    odd = await desk.client.post("/voice/id/..%2F..%2Fsecret/", data={"csrf_token": csrf}, files=files)
    assert odd.status_code == 404
    assert not (desk.data_dir / "secret.ogg").exists()


async def test_a_viewer_listens_but_cannot_change_a_prompt(desk: Desk) -> None:
    csrf = await desk.signed_in("viewer", "budi")
    assert (await desk.client.get("/voice")).status_code == 200
    files = {"audio": ("pesan.mp3", await tone(1.0), "audio/mpeg")}
    refused = await desk.client.post("/voice/id/menu.prompt", data={"csrf_token": csrf}, files=files)
    assert refused.status_code == 403
    assert await desk.rows("SELECT slot FROM voice_prompts") == []
    assert await desk.rows("SELECT action FROM audit_log WHERE action = 'denied'") != []


async def test_the_simulator_plays_the_voice_note_of_each_reply(desk: Desk) -> None:
    await desk.signed_in("petugas", "siti")
    page = await desk.client.get("/simulator?contact=warga")
    csrf = csrf_of(page.text)
    lines = await desk.client.post(
        "/simulator/send",
        data={"csrf_token": csrf, "contact": "warga", "text": "SUARA"},
        headers={"x-requested-with": "fetch"},
    )
    assert CITIZEN.text("id", "voice.on") in lines.text
    assert lines.text.count('class="voice-note"') == 2  # the confirmation and the privacy notice
    src = lines.text.split('class="voice-note"')[0].rsplit('src="', 1)[1].split('"', 1)[0]
    played = await desk.client.get(src)
    assert played.status_code == 200 and played.content[:4] == b"OggS"
