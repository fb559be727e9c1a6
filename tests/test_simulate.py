"""`python -m bot simulate` as a real subprocess: the JSON-lines contract of the README, turn by turn."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.i18n import Catalog
from tests.support import TEST_KEY
from tests.test_durability import Citizen

REPO = Path(__file__).resolve().parent.parent
CATALOG = Catalog.load()
REPLY_KEYS = {"to", "text", "choices", "request"}


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


class Simulator:
    """One `simulate` process, driven a line at a time: write an event, read up to its ack."""

    def __init__(self, data_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
        env["DINSOS_SECRET_KEY"] = TEST_KEY
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--data-dir", str(data_dir), "simulate"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            cwd=REPO,
            env=env,
        )
        # A hung process must fail the test, not hang it.
        self.watchdog = threading.Timer(20, self.process.kill)
        self.watchdog.start()

    def send(self, event: dict[str, Any] | str) -> tuple[list[dict[str, Any]], Any]:
        """Write one line; return the JSON lines written before its ack, and the ack."""
        assert self.process.stdin is not None and self.process.stdout is not None
        line = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        out: list[dict[str, Any]] = []
        while True:
            raw = self.process.stdout.readline()
            assert raw, f"simulate ended early; stderr: {self.stderr()}"
            body = json.loads(raw)
            assert isinstance(body, dict)
            if "ack" in body:
                return out, body["ack"]
            out.append(body)

    def replies(self, event: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Send an event that must be accepted; return its replies, each checked against the contract."""
        out, _ = self.send(event)
        for reply in out:
            assert "error" not in reply, reply
            assert set(reply) <= REPLY_KEYS and isinstance(reply["text"], str) and reply["text"]
            for choice in reply.get("choices", []):
                assert set(choice) == {"id", "label"}
        return out

    def close(self) -> str:
        """End the input, wait for a clean exit, return what was written to stderr."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        err = self.process.stderr.read()
        code = self.process.wait(timeout=20)
        self.dispose()
        assert code == 0, err
        return err

    def stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read()

    def dispose(self) -> None:
        """Stop the process if it still runs and close its pipes (safe to call twice)."""
        self.watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def simulate() -> Iterator[Callable[[Path], Simulator]]:
    """Start `simulate` processes; whatever a failing test leaves running is stopped."""
    started: list[Simulator] = []

    def start(data_dir: Path) -> Simulator:
        started.append(Simulator(data_dir))
        return started[-1]

    yield start
    for simulator in started:
        simulator.dispose()


def rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data_dir / "intake.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_conversation_turn_by_turn(tmp_path: Path, simulate: Callable[[Path], Simulator]) -> None:
    data = tmp_path / "data"
    sim = simulate(data)
    out, ack = sim.send({"from": "u1", "text": "halo"})
    assert ack == 1
    assert out == [
        {
            "to": "u1",
            "text": t("consent.notice"),
            "choices": [
                {"id": "consent:yes", "label": t("consent.agree")},
                {"id": "consent:yes_info", "label": t("consent.agree_info")},
                {"id": "consent:no", "label": t("consent.refuse")},
                {"id": "consent:read", "label": t("consent.read_full")},
                {"id": "consent:language", "label": t("menu.language")},
            ],
        }
    ]
    out, ack = sim.send({"from": "u1", "choice": "consent:yes", "id": "evt-2"})
    assert ack == "evt-2"
    assert t("menu.prompt") in out[-1]["text"]
    assert out[-1]["choices"][0]["id"] == "menu:registration"

    sim.replies({"from": "u1", "choice": "menu:registration"})
    sim.replies({"from": "u1", "choice": "for_whom:self"})
    sim.replies({"from": "u1", "text": "siti aminah"})
    # The NIK answers the birth date and sex questions.
    [ask_phone] = sim.replies({"from": "u1", "text": "3674 0157 0885 0001"})
    assert ask_phone["request"] == "phone"
    [offer, ask_place] = sim.replies({"from": "u1", "phone": "+6281234567890"})
    assert offer == {"to": "u1", "text": t("form.share_place"), "request": "location"}
    assert ask_place["text"] == t("reg.q.kecamatan.self") and len(ask_place["choices"]) == 7
    sim.replies({"from": "u1", "choice": "kecamatan:36.74.03"})
    [ask_address] = sim.replies({"from": "u1", "text": "jurang mangu timur"})
    assert ask_address["text"] == t("reg.q.address.self") and ask_address["request"] == "location"
    [ask_street] = sim.replies({"from": "u1", "location": [-6.2754, 106.7174]})
    assert ask_street["text"] == t("form.address_after_location")
    [ask_size] = sim.replies({"from": "u1", "text": "Jl. H. Sarmili RT 03/05"})
    assert ask_size["text"] == t("reg.q.household_size.self")
    for answer in ("5", "1 2", "ya", "1"):
        sim.replies({"from": "u1", "text": answer})
    [summary] = sim.replies({"from": "u1", "choice": "aid_received:none"})
    assert "3674********0001" in summary["text"] and "3674015708850001" not in summary["text"]
    [done], ack = sim.send({"from": "u1", "choice": "summary:send", "id": 42})
    assert ack == 42
    assert "REG-2026-000001" in done["text"]
    assert sim.close() == ""  # no key-file notice, no log noise

    [(name, kelurahan, latitude)] = rows(data, "SELECT full_name, kelurahan_code, latitude FROM persons")
    assert (name, kelurahan, latitude) == ("Siti Aminah", "36.74.03.1011", -6.2754)
    assert rows(data, "SELECT reference, status FROM cases") == [("REG-2026-000001", "baru")]
    assert not (data / "secret.key").exists()


def test_malformed_lines_get_an_error_and_their_ack_and_store_nothing(
    tmp_path: Path, simulate: Callable[[Path], Simulator]
) -> None:
    data = tmp_path / "data"
    sim = simulate(data)
    bad_lines = [
        "this is not json",
        '{"from": "u1", "text": "halo"',
        "[1, 2, 3]",
        '"halo"',
        '{"text": "halo"}',
        '{"from": "", "text": "halo"}',
        '{"from": 5, "text": "halo"}',
        '{"from": "u1", "text": 5}',
        '{"from": "u1", "choice": ["consent:yes"]}',
        '{"from": "u1", "phone": 6281234567890}',
        '{"from": "u1", "location": "di lapak"}',
        '{"from": "u1", "location": [-6.28]}',
        '{"from": "u1", "location": {"lat": -6.28, "lon": 106.71}}',
        '{"from": "u1", "media": "photo"}',
        '{"from": "u1", "media": {"kind": 5, "ref": "x"}}',
        '{"from": "u1", "media": {"kind": "selfie", "ref": "x"}}',
        '{"from": "u1", "command": 1}',
        '{"from": "u1", "channel": "no such channel", "text": "halo"}',
    ]
    for number, line in enumerate(bad_lines, start=1):
        out, ack = sim.send(line)
        assert ack == number, line
        assert len(out) == 1 and set(out[0]) == {"error"} and isinstance(out[0]["error"], str), (line, out)
    out, ack = sim.send({"from": "u1", "id": "bad-1", "text": 7})
    assert ack == "bad-1" and set(out[0]) == {"error"}
    sim.close()

    for table in ("contacts", "conversations", "inbound", "outbox", "consents", "cases"):
        assert rows(data, f"SELECT COUNT(*) FROM {table}") == [(0,)], table

    # The refused id was not used up: the same id with a good body is handled.
    sim = simulate(data)
    [notice], ack = sim.send({"from": "u1", "id": "bad-1", "text": "halo"})
    assert ack == "bad-1" and notice["text"] == t("consent.notice")
    sim.close()


def test_a_registration_split_across_two_invocations_continues(
    tmp_path: Path, simulate: Callable[[Path], Simulator]
) -> None:
    data = tmp_path / "data"
    citizen = Citizen(5)
    script = citizen.script()
    half = 6  # up to and including the NIK answer (which answers the birth date and sex too)
    sim = simulate(data)
    for number, step in enumerate(script[:half]):
        sim.replies({"from": f"warga{citizen.index}", "id": f"s{number}", **step})
    sim.close()

    sim = simulate(data)
    [offer, ask_place] = sim.replies({"from": f"warga{citizen.index}", "id": f"s{half}", **script[half]})
    assert offer["request"] == "location" and ask_place["text"] == t("reg.q.kecamatan.self")
    last: list[dict[str, Any]] = []
    for number, step in enumerate(script[half + 1 :], start=half + 1):
        last = sim.replies({"from": f"warga{citizen.index}", "id": f"s{number}", **step})
    assert "REG-2026-000001" in last[-1]["text"]
    sim.close()
    [(name, phone, kelurahan)] = rows(data, "SELECT full_name, phone, kelurahan_code FROM persons")
    assert (name, phone, kelurahan) == (citizen.name, citizen.phone_stored, citizen.kelurahan_code)


def test_a_registration_survives_kill_9_after_each_acknowledged_answer(
    tmp_path: Path, simulate: Callable[[Path], Simulator]
) -> None:
    data = tmp_path / "data"
    citizen = Citizen(8)
    script = citizen.script()
    sim = simulate(data)
    for number, step in enumerate(script[:7]):
        sim.replies({"from": f"warga{citizen.index}", "id": f"k{number}", **step})
    sim.process.kill()  # no goodbye: what was acknowledged must already be on disk
    sim.process.wait(timeout=20)

    sim = simulate(data)
    [ask_kelurahan] = sim.replies({"from": f"warga{citizen.index}", "id": "k7", **script[7]})
    assert ask_kelurahan["choices"][0]["id"].startswith(f"kelurahan:{citizen.kecamatan_code}.")
    sim.process.kill()
    sim.process.wait(timeout=20)

    sim = simulate(data)
    out, _ = sim.send({"from": f"warga{citizen.index}", "id": "k7", **script[7]})
    assert out == []  # the acknowledged answer is not taken twice
    last: list[dict[str, Any]] = []
    for number, step in enumerate(script[8:], start=8):
        last = sim.replies({"from": f"warga{citizen.index}", "id": f"k{number}", **step})
    assert "REG-2026-000001" in last[-1]["text"]
    sim.close()
    [(name, phone)] = rows(data, "SELECT full_name, phone FROM persons")
    assert (name, phone) == (citizen.name, citizen.phone_stored)


def test_the_same_id_in_two_invocations_is_handled_once(
    tmp_path: Path, simulate: Callable[[Path], Simulator]
) -> None:
    data = tmp_path / "data"
    sim = simulate(data)
    assert len(sim.replies({"from": "u1", "id": "wamid.1", "text": "halo"})) == 1
    sim.replies({"from": "u1", "id": "wamid.2", "choice": "consent:yes"})
    sim.close()

    sim = simulate(data)
    for event in (
        {"from": "u1", "id": "wamid.1", "text": "halo"},
        {"from": "u1", "id": "wamid.2", "choice": "consent:yes"},
    ):
        out, ack = sim.send(event)
        assert out == [] and ack == event["id"]
    [menu_again] = sim.replies({"from": "u1", "id": "wamid.3", "text": "menu"})
    assert t("menu.prompt") in menu_again["text"]
    sim.close()
    assert rows(data, "SELECT COUNT(*) FROM consents") == [(1,)]
    assert rows(data, "SELECT COUNT(*) FROM outbox") == [(3,)]


def test_non_ascii_text_round_trips(tmp_path: Path, simulate: Callable[[Path], Simulator]) -> None:
    sim = simulate(tmp_path / "data")
    sim.replies({"from": "dewi", "text": "halo 👋"})
    sim.replies({"from": "dewi", "choice": "consent:yes"})
    sim.replies({"from": "dewi", "choice": "menu:registration"})
    sim.replies({"from": "dewi", "choice": "for_whom:other"})
    [ask_nik] = sim.replies({"from": "dewi", "text": "ñoman śuparta"})
    assert ask_nik["text"] == t("reg.q.nik.other", name="Ñoman Śuparta")
    sim.close()
