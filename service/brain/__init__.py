"""Brain: shared memory and message bus for teams of AI agents."""
