"""Code more than one built-in plugin uses. Plugins import from here and from ``ucdbench.api``,
never from another plugin's folder; modules here import ``ucdbench.api`` and each other only."""
