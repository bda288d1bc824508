"""The shared building blocks the areas use: database, Redis, cache, idempotency, group commit,
pagination, fields, request bodies, HTTP helpers, errors, authentication, the OpenAPI document.
Nothing here imports an area or the app (ARCHITECTURE.md)."""
