"""Two evaluation plugins a user installs after runs were recorded (public API only)."""
