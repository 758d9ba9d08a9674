"""How figures read on a page (ucdbench.core.formatting), at the boundaries between its forms:
thousands separators from ``digits`` significant digits up, the p threshold of 0.001, and a
difference's sign, digits and direction words."""

from __future__ import annotations

from ucdbench.core.formatting import format_number, format_p, signed_difference


def test_numbers_with_as_many_integer_digits_as_significant_ones_read_as_integers():
    assert format_number(123.456) == "123.5"  # 3 integer digits < 4 significant: decimals kept
    assert format_number(1300.7) == "1,301"  # 4 integer digits: rounded, with a separator
    assert format_number(12345.6) == "12,346"  # never 1.235e+04
    assert format_number(12.345, 3) == "12.3" and format_number(123.45, 3) == "123"


def test_p_below_a_thousandth_reads_as_a_bound_and_a_thousandth_itself_as_its_value():
    assert format_p(0.0009) == "p < 0.001"
    assert format_p(0.001) == "p = 0.001"


def test_a_difference_reads_with_its_sign_three_digits_and_its_direction():
    assert signed_difference(0.5, 0.5) == "+0.5 (better)"  # a change under 1 is still a gain
    assert signed_difference(-2.114, -2.114, "p = 0.012") == "−2.11 (worse, p = 0.012)"
    assert signed_difference(0.5, -0.5) == "+0.5 (worse)"  # up, on a lower-is-better figure
    assert signed_difference(0.0, 0.0) == "±0" and signed_difference(2.0, None) == "+2"
