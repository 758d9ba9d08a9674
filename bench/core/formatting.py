"""How figures read on a page: numbers, p-values and differences, the same on every page.

It imports nothing of the harness, so the report layer's modules (tables, claims, the site)
all format through it without importing one another.
"""

from __future__ import annotations

import math

SIGNIFICANCE = 0.05
"""The threshold a printed p-value is judged against (:data:`ucdbench.core.stats.SIGNIFICANCE` is this)."""


def format_number(value: float, digits: int = 4) -> str:
    """``value`` for a reader: ``digits`` significant digits, never exponent notation for
    large numbers (189,234 samples/s, not 1.892e+05); integers exactly, with thousands
    separators (549,572 bytes must not read as 549,600). NaN and infinities as themselves:
    an undefined figure (an attack's success where clean and dense compute are equal) is one."""
    if not math.isfinite(value):
        return str(value)
    if value == round(value) and abs(value) < 1e15:
        return f"{round(value):,}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{round(value):,}"
    return f"{value:.{digits}g}"


def format_p(p: float, threshold: float = SIGNIFICANCE) -> str:
    """``p = 0.012``, ``p < 0.001``: two significant digits, more where two would round onto
    or across ``threshold`` (0.0503 prints as 0.0503, not 0.05 beside a rule of p < 0.05), so
    the printed value is on the side of the threshold the verdict is."""
    if p < 0.001:
        return "p < 0.001"
    for digits in range(2, 8):
        text = f"{p:.{digits}g}"
        if (float(text) < threshold) == (p < threshold) and float(text) != threshold:
            return f"p = {text}"
    return f"p = {p!r}"


def signed_difference(difference: float, improvement: float | None, *details: str) -> str:
    """``+2.91 (better)``, ``−2.11 (worse, p = 0.012)``: a difference with its sign and, where the
    figure has a direction, which way it goes (``improvement``: the same difference signed so that
    > 0 is better, as :class:`ucdbench.core.stats.PairedComparison` gives it; None: no direction), then
    ``details``, in one bracket; ``±0`` for no difference."""
    sign = "+" if difference > 0 else "−" if difference < 0 else "±"
    words = [] if not improvement else ["better" if improvement > 0 else "worse"]
    words += [d for d in details if d]
    return sign + format_number(abs(difference), 3) + (f" ({', '.join(words)})" if words else "")
