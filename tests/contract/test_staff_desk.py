"""The Telegram staff group's memory and feed through the store contract: what it posted last (on the
first start, nothing of the backlog), the cards and prompts it remembers, new cases and citizens'
messages after a mark, unread counts, and officers' Telegram links."""

from datetime import timedelta
from functools import partial

from handlers.staff.casework import assign_case
from storage import cases, channel_state, desk, threads
from storage.cases import CaseFilter
from storage.contract import Store
from tests.contract.casework_seed import AT, Seed, account, case_id, seed


async def test_the_first_start_marks_the_backlog_as_posted_and_later_starts_resume(store: Store) -> None:
    await seed(store, Seed("Lama Satu"), Seed("Lama Dua"))
    first = await store.write(desk.last_posted_case)
    assert first == await case_id(store, (await cases.cases_after(store, 0))[-1].reference)
    assert await store.write(desk.last_posted_line) == 0  # no thread line yet
    (new,) = await seed(store, Seed("Baru"))
    assert [case.reference for case in await cases.cases_after(store, first)] == [new]
    await store.write(lambda tx: channel_state.save(tx, {desk.LAST_POSTED: str(first + 1)}))
    assert await store.write(desk.last_posted_case) == first + 1  # kept, not the newest again


async def test_cards_and_prompts_are_remembered_and_forgotten(store: Store) -> None:
    await store.write(lambda tx: channel_state.save(tx, {"telegram.staff.card.77": "5"}))
    await store.write(lambda tx: channel_state.save(tx, {"telegram.staff.card.77": "6"}))
    assert await channel_state.value(store, "telegram.staff.card.77") == "6"
    await store.write(lambda tx: channel_state.drop(tx, "telegram.staff.card.77"))
    assert await channel_state.value(store, "telegram.staff.card.77") is None


async def test_citizens_messages_are_fed_with_their_case_and_officer(store: Store) -> None:
    budi = await account(store, "budi")
    await store.write(partial(desk.link_telegram, username="budi", telegram_user_id=4242))
    siti, ani = await seed(store, Seed("Siti Aminah", contact="whatsapp:62811"), Seed("Ani", contact="web:2"))
    await store.write(partial(assign_case, reference=siti, user_id=budi, actor="staff:a", at=AT))
    siti_id, ani_id = await case_id(store, siti), await case_id(store, ani)
    for number, (case, contact, body) in enumerate(
        ((siti_id, "whatsapp:62811", "Kapan bantuan datang?"), (ani_id, "web:2", None))
    ):
        await store.write(
            partial(
                threads.add_inbound,
                case_id=case,
                contact_id=contact,
                kind="text" if body else "photo",
                body=body,
                media_ref=None if body else "media/x.jpg",
                at=AT + timedelta(minutes=number),
            )
        )
    lines = await cases.citizen_lines_after(store, 0)
    assert [(line.reference, line.body, line.officer_telegram_id) for line in lines] == [
        (siti, "Kapan bantuan datang?", 4242),
        (ani, None, None),
    ]
    assert await cases.citizen_lines_after(store, lines[0].id) == lines[1:]
    assert await cases.unread_count(store) == 2
    assert await cases.unread_count(store, assignee=budi) == 1
    state = await cases.live_state(store, user_id=budi)
    assert (state.unread_cases, state.mine) == (2, 1)
    # The queue's "new messages" filter, and its order by who has waited longest.
    unread = await cases.queue_page(store, CaseFilter(unread=True))
    assert [row.reference for row in unread.rows] == [ani, siti]
    waiting = await cases.queue_page(store, CaseFilter(unread=True), sort="waiting")
    assert [(row.reference, row.waiting_since) for row in waiting.rows] == [
        (siti, AT),
        (ani, AT + timedelta(minutes=1)),
    ]
    mine = await cases.queue_page(store, CaseFilter(unread=True, assignee=budi))
    assert [(row.reference, row.unread) for row in mine.rows] == [(siti, 1)]


async def test_an_officers_telegram_link_moves_and_is_removed(store: Store) -> None:
    await account(store, "budi")
    await account(store, "ani")
    link = partial(desk.link_telegram, telegram_user_id=4242)
    assert await store.write(partial(link, username="budi")) is True
    assert await store.write(partial(link, username="ani")) is True  # one Telegram user, one account
    assert await store.write(partial(link, username="nobody")) is False
    rows = await store.fetchall("SELECT username, telegram_user_id FROM staff_users ORDER BY username")
    assert [tuple(row) for row in rows] == [("ani", 4242), ("budi", None)]
    assert await store.write(partial(desk.link_telegram, username="ani", telegram_user_id=None)) is True
    assert await store.fetchval("SELECT COUNT(*) FROM staff_users WHERE telegram_user_id IS NOT NULL") == 0
