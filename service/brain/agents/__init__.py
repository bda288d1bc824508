"""The agent registry."""
