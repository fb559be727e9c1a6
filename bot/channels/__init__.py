"""Channel adapters: the only code that knows a platform's payloads."""
