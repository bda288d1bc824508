"""Messages between agents: PostgreSQL outbox, Redis Streams delivery."""
