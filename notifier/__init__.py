"""notifier: the composition root (settings, CLI, HTTP API, embedded dev stack, wiring)."""
