"""Memories: context records with tags, importance and expiry."""
