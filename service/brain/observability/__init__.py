"""Logs, metrics, traces and the per-request middleware that records all three. Imports nothing
else of Brain but its settings (ARCHITECTURE.md)."""
