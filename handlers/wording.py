"""What a question needs to put a stored answer into words, and nothing more.

A citizen's conversation step (`handlers.turn.Turn`) has it; so does the staff service's presenter
(`handlers.staff.present.Presenter`), which words a case's answers for the command line, the Telegram staff
group and the dashboard without pretending to be a citizen.
"""

from datetime import date
from typing import Protocol

from handlers.places import Places


class Wording(Protocol):
    """A reader's language, catalog sentences in it, the city's places, and today's date (for ages)."""

    @property
    def lang(self) -> str:
        """The reader's language ("id" or "en")."""
        ...

    @property
    def places(self) -> Places:
        """Kecamatan and kelurahan of Tangerang Selatan, to name a stored code."""
        ...

    def t(self, key: str, **params: object) -> str:
        """A catalog sentence in the reader's language."""
        ...

    def today(self) -> date:
        """Today's date in WIB."""
        ...
