"""How values cross between Python and PostgreSQL, matching what the same SQL gives on SQLite: a Python
bool is stored as the integer 0/1 (flags are INTEGER columns on both backends), and a `numeric` result
(what `SUM` of integers gives) comes back as an int (a float when it has a fraction), not a Decimal."""

from typing import Any

from psycopg import BaseConnection
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types.numeric import Int8Dumper


class _FlagDumper(Int8Dumper):
    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumberLoader(Loader):
    format = Format.TEXT

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if text.lstrip("-").isdigit():
            return int(text)
        return float(text)


def configure(conn: "BaseConnection[Any]") -> None:
    """Give a connection the value conversions above."""
    dumper: type[Dumper] = _FlagDumper
    conn.adapters.register_dumper(bool, dumper)
    conn.adapters.register_loader("numeric", _NumberLoader)
