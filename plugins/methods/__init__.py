"""Built-in methods: one folder each, each its own entry point, as a third-party method would be."""
