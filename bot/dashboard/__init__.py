"""The staff web dashboard: summary, queue, cases, persons, broadcasts, reminders, programmes, exports, the
audit log, accounts, and the citizen simulator. Pages are rendered on the server (Jinja2) by the service's
ASGI app; a little hand-written JavaScript only refreshes parts of pages and previews what a form would do.
"""

from bot.dashboard.app import Dashboard
from bot.dashboard.simulator import WEB, WebChatChannel

__all__ = ["WEB", "Dashboard", "WebChatChannel"]
