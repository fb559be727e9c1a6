"""Persistence: SQLite database, migrations, records and repository queries."""
