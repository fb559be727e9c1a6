"""Benchmark: voice notes. First synthesis of a 20-word prompt and a cache hit; then registrations in
text mode and in voice mode (every prompt already synthesised once), reply latency percentiles of each.

In voice mode a turn's latency runs from the inbound message to its last voice note handed to the
channel (the text goes first, then the voice note is made or found and sent), so it is the slower of the
two for the person. The channel accepts at once (no platform), as in bench/registration_load.py.

    python -m bench.voice --contacts 10
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.registration_load import script
from bot.app import Service, build_service
from bot.outbox import SendResult
from bot.settings import ServiceSettings, Settings, StoreSettings
from bot.voice import VoiceBank
from handlers.i18n import Catalog
from handlers.types import Inbound, Reply
from storage.crypto import generate_key_text
from storage.records import OutboxStatus

PROMPT = (
    "Silakan ketik nama lengkap Bapak atau Ibu sesuai KTP, lalu kirim. Kalau tidak punya KTP, "
    "ketik nama yang biasa dipakai."
)


class VoiceCountingChannel:
    """Accepts texts and voice notes at once, counting them."""

    scheme = "console"

    def __init__(self) -> None:
        self.texts = 0
        self.voices = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.texts += 1
        return SendResult(OutboxStatus.SENT)

    async def send_voice(self, contact_id: str, audio: Path) -> SendResult:
        self.voices += 1
        return SendResult(OutboxStatus.SENT)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def synthesis(tmp: Path) -> None:
    words = len(PROMPT.replace(",", " ").split())
    bank = VoiceBank(tmp / "synth", Catalog.load())
    started = time.perf_counter()
    path = await bank.synthesise(PROMPT, "id")
    first = (time.perf_counter() - started) * 1000
    hits = []
    for _ in range(200):
        started = time.perf_counter()
        await bank.synthesise(PROMPT, "id")
        hits.append((time.perf_counter() - started) * 1000)
    seconds = await bank.duration(path)
    size = path.stat().st_size
    print(f"prompt                {words} words, {seconds:.1f} s of speech, {size} bytes OGG/Opus")
    print(f"first synthesis       {first:.0f} ms (espeak-ng + ffmpeg)")
    print(f"cache hit             {statistics.median(hits):.3f} ms median, {max(hits):.3f} ms max (200 hits)")


async def run(service: Service, contact: str, steps: list[dict[str, object]]) -> list[float]:
    latencies = []
    for number, step in enumerate(steps):
        event = Inbound(
            contact=contact,
            at=service.engine.clock(),
            event_id=f"{contact}:{number}",
            text=step.get("text"),  # type: ignore[arg-type]
            choice=step.get("choice"),  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        if not await service.receive(event):
            raise RuntimeError(f"{contact} got no reply at step {number}")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def registrations(tmp: Path, contacts: int) -> None:
    settings = Settings(
        store=StoreSettings(
            data_dir=tmp / "data", secret_key=generate_key_text(), sqlite_synchronous="NORMAL"
        ),
        service=ServiceSettings(),
    )
    channel = VoiceCountingChannel()
    service = await build_service(settings, {"console": channel})
    assert service.voice is not None
    steps = script(0)  # everyone gives the same answers, so every sentence but the reference repeats
    voiced: list[dict[str, object]] = [{"text": "SUARA"}, *steps[1:]]
    try:
        await run(service, "console:warm", voiced)  # synthesises every prompt once
        made = service.voice.syntheses
        text: list[float] = []
        voice: list[float] = []
        for index in range(contacts):  # alternate, so both modes see the same machine load
            text += await run(service, f"console:text{index}", steps)
            voice += await run(service, f"console:voice{index}", voiced)
        fresh = service.voice.syntheses - made
    finally:
        await service.close()
    print(
        f"registrations         {contacts} in text mode, {contacts} in voice mode ({len(steps)} turns each)"
    )
    print(f"voice notes sent      {channel.voices} (texts {channel.texts})")
    print(f"syntheses while timed {fresh} (the reference number is new in every registration)")
    for name, values in (("text mode", text), ("voice mode", voice)):
        print(
            f"{name:<21} p50 {percentile(values, 0.5):.1f} ms  p90 {percentile(values, 0.9):.1f} ms  "
            f"p95 {percentile(values, 0.95):.1f} ms  max {max(values):.1f} ms"
        )
    slowest = sorted(range(len(voice)), key=lambda i: -voice[i])[:8]
    print("slowest voice turns   " + ", ".join(f"step {i % len(voiced)}: {voice[i]:.0f} ms" for i in slowest))
    difference = percentile(voice, 0.95) - percentile(text, 0.95)
    print(f"p95 difference        {difference:+.1f} ms (target: within 50 ms)")


async def main(contacts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await synthesis(Path(tmp))
        await registrations(Path(tmp), contacts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10)
    asyncio.run(main(parser.parse_args().contacts))
