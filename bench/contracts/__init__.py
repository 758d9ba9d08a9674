"""The contracts between the harness and its plugins: the Method, Task, Evaluation and Hardware
interfaces and what flows between them (outcomes, artifacts, figures), the task capabilities, the
typed settings, and a model's complete state. Imports only :mod:`ucdbench.core`; re-exported to
plugins by :mod:`ucdbench.api`."""
