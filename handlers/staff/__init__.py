"""The staff service shared by the CLI, the Telegram staff group and the dashboard (no platform, no web)."""
