"""Rows that behave like `sqlite3.Row`: `row["col"]`, `row[0]`, `dict(row)`, `row.keys()`, iteration over
the values, equality with a tuple of the same values."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from psycopg.rows import RowMaker

if TYPE_CHECKING:
    from psycopg._cursor_base import BaseCursor


class Row(tuple[Any, ...]):
    """One result row: a tuple of its values that is also read by column name."""

    _names: dict[str, int]
    _keys: list[str]

    def __new__(cls, values: Sequence[Any], names: dict[str, int], keys: list[str]) -> "Row":
        row = super().__new__(cls, values)
        row._names = names
        row._keys = keys
        return row

    @overload
    def __getitem__(self, key: SupportsIndex) -> Any: ...

    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: SupportsIndex | slice | str) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names[key])
            except KeyError:
                raise IndexError(f"No item with that key: {key!r}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order (what `dict(row)` walks)."""
        return list(self._keys)


_SHAPES: dict[tuple[bytes, ...], tuple[dict[str, int], list[str]]] = {}


def sqlite_rows(cursor: "BaseCursor[Any, Any]") -> RowMaker[Row]:
    """A psycopg row factory making `Row`s (names looked up case-insensitively, like SQLite's). Column
    names are read from the result itself and kept per shape (cheaper than `cursor.description`)."""
    result = cursor.pgresult
    if result is None or result.nfields == 0:
        return _no_row
    fields = tuple(result.fname(index) or b"" for index in range(result.nfields))
    shape = _SHAPES.get(fields)
    if shape is None:
        keys = [field.decode() for field in fields]
        names: dict[str, int] = {}
        for index, name in enumerate(keys):
            names.setdefault(name, index)
            names.setdefault(name.lower(), index)
        shape = _SHAPES.setdefault(fields, (names, keys)) if len(_SHAPES) < 10_000 else (names, keys)
    names, keys = shape

    def make(values: Sequence[Any]) -> Row:
        return Row(values, names, keys)

    return make


def has_rows(cursor: "BaseCursor[Any, Any]") -> bool:
    """Whether the statement just run returns rows (a SELECT, or RETURNING), without building its
    column descriptions."""
    result = cursor.pgresult
    return result is not None and result.nfields > 0


def _no_row(values: Sequence[Any]) -> Row:
    raise TypeError("the statement returned no rows")
