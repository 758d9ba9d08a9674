"""A plugin that implements no hook and registers nothing: valid, and ``ucdbench plugins``
still lists it."""
