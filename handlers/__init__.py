"""Conversation flows and staff actions, free of any platform library."""
