"""For plugin authors: the conformance kit (``ucdbench check-plugin`` and its pytest plugin) and the
scaffold of a new plugin package. Above the running layer, whose smoke runs the kit judges."""
