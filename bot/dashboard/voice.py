"""The "Suara" page: the office records its own voice for each prompt the bot speaks.

Each catalog sentence (or, for a sentence with placeholders, each run of its fixed words) is a prompt.
Staff record it in the browser (MediaRecorder, in /static/app.js) or upload a file, per language, listen
back, replace or remove it. The file is converted once to OGG/Opus by ffmpeg and kept in the data
directory; prompts without a recording are spoken by the synthesiser, and the page says which is which.
"""

import re
from functools import partial
from pathlib import Path

from starlette.responses import FileResponse, Response

from bot.dashboard.app import Ctx, Dashboard, Refused
from bot.media import MAX_MEDIA_BYTES
from bot.voice import VoiceBank, VoiceError
from handlers.i18n import LANGUAGES
from storage import contacts

NOTE_NAME = re.compile(r"^(tts|mix)-[0-9a-f]{32}\.ogg$")
SLOT_NAME = re.compile(r"^[a-z0-9_.]+(~[0-9]+)?$")


def register(d: Dashboard) -> None:
    """Add the voice pages."""
    d.route("/voice", page, role="viewer")
    d.route("/voice/audio/{language}/{slot}", recording_audio, role="viewer")
    d.route("/voice/preview/{language}/{slot}", synthesised_audio, role="viewer")
    d.route("/voice/notes/{name}", note_audio, role="viewer")
    d.route(
        "/voice/{language}/{slot}",
        save,
        role="petugas",
        methods=("POST",),
        max_body=MAX_MEDIA_BYTES + 100_000,
    )
    d.route("/voice/{language}/{slot}/remove", remove, role="petugas", methods=("POST",))


def _bank(ctx: Ctx) -> VoiceBank:
    bank = ctx.d.service.voice
    if bank is None:
        raise Refused(404, "refused.no_file")
    return bank


def _language(ctx: Ctx, raw: str) -> str:
    return raw if raw in LANGUAGES else "id"


def _slot(ctx: Ctx) -> tuple[VoiceBank, str, str]:
    bank = _bank(ctx)
    language = ctx.request.path_params["language"]
    slot = ctx.request.path_params["slot"]
    if language not in LANGUAGES or not SLOT_NAME.match(slot) or bank.slot(language, slot) is None:
        raise Refused(404, "refused.no_file")
    return bank, language, slot


def section_of(key: str) -> str:
    """The catalog section of a key (`reg.q.nik.self` -> `reg`)."""
    return key.split(".", 1)[0]


async def page(ctx: Ctx) -> Response:
    """The prompts of one language and section: recorded (with length) or synthesised."""
    bank = _bank(ctx)
    language = _language(ctx, ctx.query("language", "id"))
    slots = bank.slots(language)
    sections: dict[str, int] = {}
    for slot in slots:
        sections[section_of(slot.key)] = sections.get(section_of(slot.key), 0) + 1
    prompts = await contacts.voice_prompts(ctx.d.db, language)
    recorded = {prompt.slot: prompt for prompt in prompts if bank.recording(language, prompt.slot)}
    counts: dict[str, int] = {}
    for slot_name in recorded:
        name = section_of(slot_name)
        counts[name] = counts.get(name, 0) + 1
    section = ctx.query("section") or "consent"
    if section not in sections:
        section = next(iter(sections))
    search = ctx.query("q").lower()
    shown = [
        s
        for s in slots
        if (section_of(s.key) == section and not search)
        or (search and (search in s.text.lower() or search in s.slot.lower()))
    ]
    return ctx.render(
        "voice.html",
        language=language,
        languages=LANGUAGES,
        sections=sections,
        counts=counts,
        section=section,
        search=search,
        shown=shown,
        recorded=recorded,
        total_recorded=len(recorded),
        total=len(slots),
    )


async def save(ctx: Ctx) -> Response:
    """Keep a recording (from the browser's recorder or an uploaded file) for a prompt."""
    bank, language, slot = _slot(ctx)
    upload = ctx.upload("audio")
    back = f"/voice?language={language}&section={section_of(slot)}"
    if upload is None:
        return ctx.redirect(back, done="voice_missing")
    data = await upload.read(MAX_MEDIA_BYTES + 1)
    if not data or len(data) > MAX_MEDIA_BYTES:
        return ctx.redirect(back, done="voice_unreadable")
    try:
        seconds = await bank.store_recording(language, slot, data)
    except VoiceError as error:
        await ctx.audit("voice.refused", target=f"{language}:{slot}", detail=str(error)[:200])
        return ctx.redirect(back, done="voice_unreadable")
    source = "recorded" if ctx.field("source") == "recorder" else "uploaded"
    prompt = contacts.VoicePrompt(
        language=language,
        slot=slot,
        file=str(bank.recording_path(language, slot).relative_to(bank.root)),
        duration_ms=round(seconds * 1000),
        source=source,
        recorded_by=ctx.user.actor,
        updated_at=ctx.now,
    )
    await ctx.d.db.write(partial(contacts.save_voice_prompt, prompt=prompt))
    await ctx.audit(f"voice.{source}", target=f"{language}:{slot}", detail=f"{seconds:.1f} s")
    return ctx.redirect(back, done="voice_saved")


async def remove(ctx: Ctx) -> Response:
    """Remove a prompt's recording: the synthesised voice speaks it again."""
    bank, language, slot = _slot(ctx)
    removed = bank.remove_recording(language, slot)
    await ctx.d.db.write(partial(contacts.forget_voice_prompt, language=language, slot=slot))
    if removed:
        await ctx.audit("voice.removed", target=f"{language}:{slot}")
    return ctx.redirect(f"/voice?language={language}&section={section_of(slot)}", done="voice_removed")


def _audio(path: Path) -> Response:
    return FileResponse(path, media_type="audio/ogg", headers={"cache-control": "no-store"})


async def recording_audio(ctx: Ctx) -> Response:
    """Listen back to a recording."""
    bank, language, slot = _slot(ctx)
    path = bank.recording(language, slot)
    if path is None:
        raise Refused(404, "refused.no_file")
    return _audio(path)


async def synthesised_audio(ctx: Ctx) -> Response:
    """Hear how the synthesiser speaks a prompt (made once, then kept like every synthesised sentence)."""
    bank, language, slot = _slot(ctx)
    found = bank.slot(language, slot)
    assert found is not None
    try:
        path = await bank.synthesise(found.text, language)
    except VoiceError:
        raise Refused(503, "refused.voice_unavailable") from None
    return _audio(path)


async def note_audio(ctx: Ctx) -> Response:
    """A voice note the bot sent (the simulator plays them)."""
    bank = _bank(ctx)
    name = ctx.request.path_params["name"]
    if not NOTE_NAME.match(name):
        raise Refused(404, "refused.no_file")
    for folder in (bank.cache, bank.personal):
        if (folder / name).is_file():
            return _audio(folder / name)
    raise Refused(404, "refused.no_file")


def note_url(audio: Path | None) -> str | None:
    """Where the dashboard serves a voice note or recording (None for any other file)."""
    if audio is None:
        return None
    if NOTE_NAME.match(audio.name):
        return f"/voice/notes/{audio.name}"
    if audio.parent.parent.name == "prompts" and SLOT_NAME.match(audio.stem):
        return f"/voice/audio/{audio.parent.name}/{audio.stem}"
    return None
