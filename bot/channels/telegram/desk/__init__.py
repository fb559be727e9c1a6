"""The Telegram staff group, one module a capability (see `bot.channels.telegram.staff`)."""
