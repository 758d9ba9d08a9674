"""Finding plugins: the pluggy hook specifications, the registry of what the installed
distributions register through the ``ucdbench`` entry-point group, and the declared defaults.
Imports the contracts and the core; nothing that runs or reports."""
