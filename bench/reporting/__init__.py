"""Reporting: records read back into leaderboard tables, views, claims, charts, pages, the static
site and the regression gate. Reads results folders through :mod:`ucdbench.running.store`; runs
nothing."""
