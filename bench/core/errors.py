"""The harness's two errors, at the bottom so that every layer raises them without importing another."""


class UcdbenchError(Exception):
    """An error the user can fix: the CLI prints its message (no traceback) and exits 2."""


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the run is recorded as failed."""
