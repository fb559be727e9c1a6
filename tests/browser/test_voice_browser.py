"""The "Suara" page in a real browser: an officer records a prompt with the microphone and the next
conversation speaks it in her voice instead of the synthesised one.

Chromium's fake audio device plays a WAV file as the microphone (`--use-file-for-fake-audio-capture`);
MediaRecorder records it, the page uploads it, the service converts it to OGG/Opus.
"""

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from handlers.i18n import Catalog
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.dashboard_support import PASSWORD, LiveService, add_user, live_service, prepare_store_sync, query

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parents[2] / "bot" / "dashboard" / "locales")


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV file the fake microphone plays: a 440 Hz tone (nothing like espeak-ng)."""
    wav = tmp_path_factory.mktemp("mic") / "suara.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4", str(wav)],
        check=True,
    )
    return wav


@pytest.fixture(scope="module")
def browser_with_microphone(microphone: Path) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is missing: apt-get install chromium")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser_with_microphone: Browser) -> Iterator[Page]:
    context = browser_with_microphone.new_context(viewport={"width": 1366, "height": 768}, locale="id-ID")
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(error.message))
    yield opened
    context.close()
    assert errors == [], f"the page's own script failed: {errors}"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[LiveService]:
    prepare_store_sync(tmp_path / "data", lambda conn: add_user(conn, "siti", "petugas", "Siti Rahma"))
    with live_service(tmp_path / "data") as live:
        yield live


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(ui("login.username")).fill("siti")
    page.get_by_label(ui("login.password")).fill(PASSWORD)
    page.get_by_role("button", name=ui("login.button")).click()
    expect(page.get_by_role("heading", name=ui("summary.title"))).to_be_visible()


def voice_of_first_reply(page: Page, base: str, contact: str) -> str:
    """A new simulated citizen types SUARA; the `src` of the voice note of the bot's first reply."""
    page.goto(f"{base}/simulator?contact={contact}")
    box = page.get_by_placeholder(ui("simulator.type"))
    box.fill("SUARA")
    box.press("Enter")
    first = page.locator("#sim-lines .bubble.bot").first
    expect(first).to_contain_text(CITIZEN.text("id", "voice.on"))
    note = first.locator("audio.voice-note")
    expect(note).to_have_count(1, timeout=60_000)
    return str(note.get_attribute("src"))


def test_an_officer_records_a_prompt_and_the_next_conversation_speaks_with_it(
    page: Page, office: LiveService
) -> None:
    sign_in(page, office.url)
    # Before: the confirmation of voice mode is spoken by the synthesiser.
    assert voice_of_first_reply(page, office.url, "warga-satu").startswith("/voice/notes/tts-")

    page.get_by_role("link", name=ui("nav.voice")).click()
    page.get_by_label(ui("voice.section")).select_option("voice")
    page.get_by_role("button", name=ui("voice.show")).click()
    row = page.locator('tr[data-slot="voice.on"]')
    expect(row).to_contain_text(ui("voice.synthesised"))
    row.get_by_role("button", name=re.compile(ui("voice.record"))).click()
    expect(row.locator(".record-state")).to_have_text(ui("voice.recording"))
    page.wait_for_timeout(1500)
    row.get_by_role("button", name=re.compile(ui("voice.stop"))).click()
    expect(row.locator("audio.record-preview")).to_be_visible()  # listen back before saving
    row.get_by_role("button", name=ui("voice.save_recording")).click()
    expect(page.locator("p.flash")).to_have_text(ui("done.voice_saved"), timeout=30_000)
    row = page.locator('tr[data-slot="voice.on"]')
    expect(row).to_contain_text(re.compile(ui("voice.recorded", seconds=r"[0-9.]+").replace(" · ", ".*")))
    [saved] = query(office.data_dir, "SELECT source, duration_ms, recorded_by FROM voice_prompts")
    assert (
        saved["source"] == "recorded" and saved["duration_ms"] > 500 and saved["recorded_by"] == "staff:siti"
    )
    audited = query(office.data_dir, "SELECT target FROM audit_log WHERE action = 'voice.recorded'")
    assert audited == [{"target": "id:voice.on"}]

    # After: a new conversation hears the office's recording.
    assert voice_of_first_reply(page, office.url, "warga-dua") == "/voice/audio/id/voice.on"
    played = page.request.get(f"{office.url}/voice/audio/id/voice.on")
    assert played.ok and played.headers["content-type"] == "audio/ogg" and played.body()[:4] == b"OggS"
