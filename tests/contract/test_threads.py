"""Case threads through the store contract: a citizen's lines are unread until staff read them, staff
questions wait for an answer, and a line moved to the case it answers."""

from datetime import timedelta

from storage import threads
from storage.contract import Store
from tests.contract.seed import AT, contact, filed


async def test_lines_are_unread_until_read_and_the_stamp_changes(store: Store) -> None:
    who = contact()
    _, case_id, _ = await filed(store, who)
    stamp = await threads.thread_stamp(store, case_id)
    await store.write(
        lambda tx: threads.add_inbound(
            tx, case_id=case_id, contact_id=who.id, kind="text", body="Halo Bu", media_ref=None, at=AT
        )
    )
    assert await threads.thread_stamp(store, case_id) != stamp
    lines = await threads.thread(store, case_id)
    assert [(line.direction, line.body, line.unread) for line in lines] == [("in", "Halo Bu", True)]
    assert await store.fetchval("SELECT unread FROM cases WHERE id = ?", (case_id,)) == 1
    assert await store.write(lambda tx: threads.mark_read(tx, case_id)) is True
    assert await store.write(lambda tx: threads.mark_read(tx, case_id)) is False
    assert [line.unread for line in await threads.thread(store, case_id)] == [False]
    assert await threads.last_written(store, who.id) == AT


async def test_a_question_waits_for_its_answer_and_a_line_moves_to_its_case(store: Store) -> None:
    who = contact()
    _, first, _ = await filed(store, who)
    _, second, reference = await filed(store, who, name="Budi")
    await store.write(lambda tx: tx.execute("UPDATE cases SET status = 'perlu_info' WHERE id = ?", (second,)))
    question_id = await store.write(
        lambda tx: threads.add_question(
            tx, case_id=second, contact_id=who.id, question="Foto KK?", outbox_id=None, asked_by="rina", at=AT
        )
    )
    await store.write(lambda tx: threads.reset_awaiting(tx, case_id=second))
    waiting = await threads.open_questions(store, who.id)
    assert [(q.id, q.case_id, q.reference, q.question) for q in waiting] == [
        (question_id, second, reference, "Foto KK?")
    ]
    line = await store.write(
        lambda tx: threads.add_inbound(
            tx,
            case_id=first,
            contact_id=who.id,
            kind="text",
            body="ini fotonya",
            media_ref=None,
            at=AT + timedelta(minutes=1),
        )
    )
    await store.write(lambda tx: threads.move_line(tx, line, second, question_id))
    assert await store.write(lambda tx: threads.answer_question(tx, question_id, AT)) == second
    assert await store.write(lambda tx: threads.answer_question(tx, question_id, AT)) is None
    assert await threads.open_questions(store, who.id) == []
    assert [row.body for row in await threads.thread(store, second)] == ["ini fotonya"]
    assert await threads.thread(store, first) == []
    unread = await store.fetchall("SELECT id, unread FROM cases ORDER BY id")
    assert [tuple(row) for row in unread] == [(first, 0), (second, 1)]
