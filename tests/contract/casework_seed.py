"""Seeding for the case repositories' contract tests: the dashboard tests' seeding (contacts, people and
cases through the store's write functions, the same on every backend) and staff accounts."""

from functools import partial

from storage import repo
from storage.contract import Store, Tx, insert_id
from storage.crypto import Sealer, generate_key_text
from tests.dashboard_support import SeedCase as Seed
from tests.dashboard_support import seed_cases

SEALER = Sealer(generate_key_text().encode())
AT = Seed("").created_at  # Wednesday 18 November 2026, 10:00 WIB


async def seed(store: Store, *items: Seed) -> list[str]:
    """Write the cases (with their contacts and people); return their references, in order."""
    references: list[str] = await store.write(partial(seed_cases, cases=list(items), sealer=SEALER))
    return references


async def account(store: Store, username: str, *, role: str = "petugas", name: str = "") -> int:
    """A staff account (no password needed here); its id."""

    def create(tx: Tx) -> int:
        return insert_id(
            tx,
            "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at) "
            "VALUES (?, ?, ?, 'x', ?, ?) RETURNING id",
            (username, name or username.title(), role, repo.iso(AT), repo.iso(AT)),
        )

    return await store.write(create)


async def case_id(store: Store, reference: str) -> int:
    """A seeded case's id."""
    found = await repo.get_case(store, reference)
    assert found is not None and found.id is not None
    return found.id


__all__ = ["AT", "SEALER", "Seed", "account", "case_id", "seed"]
