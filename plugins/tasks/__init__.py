"""Built-in tasks. Each module here with a hook is its own entry point, like a third-party task."""
