"""Built-in hardware plugins: ``cpu`` and ``cuda`` (each its own entry point)."""
