"""CPU energy through RAPL: the cpu hardware's meter reads a (fake) powercap tree's package
counters, sums packages, leaves subdomains out, undoes a counter's wrap-around, and where no
counter is readable there is no meter and the record says energy was not measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucdbench_plugins.hardware.cpu import CPU


def _domain(root: Path, name: str, energy_uj: int, max_range_uj: int = 1_000_000) -> Path:
    domain = root / name
    domain.mkdir()
    (domain / "energy_uj").write_text(f"{energy_uj}\n")
    (domain / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    (domain / "name").write_text("package-0\n" if name.count(":") == 1 else "core\n")
    return domain


def _cpu(powercap: Path) -> CPU:
    cpu = CPU()
    cpu.powercap = powercap
    return cpu


def test_the_meter_sums_the_packages_and_leaves_their_subdomains_out(tmp_path):
    zero, one = _domain(tmp_path, "intel-rapl:0", 100), _domain(tmp_path, "intel-rapl:1", 5_000)
    core = _domain(tmp_path, "intel-rapl:0:0", 50)
    meter = _cpu(tmp_path).energy_meter("cpu")
    assert meter.joules() == 0.0
    (zero / "energy_uj").write_text("600100\n")
    (one / "energy_uj").write_text("255000\n")
    (core / "energy_uj").write_text("999999\n")
    assert meter.joules() == pytest.approx((600_000 + 250_000) / 1e6)


def test_a_counter_that_wraps_around_its_range_keeps_counting(tmp_path):
    package = _domain(tmp_path, "intel-rapl:0", 900_000, max_range_uj=1_000_000)
    meter = _cpu(tmp_path).energy_meter("cpu")
    (package / "energy_uj").write_text("150000\n")  # past 1 000 000 and round again: +250 000 µJ
    assert meter.joules() == pytest.approx(0.25)
    (package / "energy_uj").write_text("400000\n")
    assert meter.joules() == pytest.approx(0.5)


def test_where_no_counter_is_readable_there_is_no_meter_and_the_record_says_energy_is_not_measured(tmp_path):
    cpu = _cpu(tmp_path)
    assert cpu.energy_meter("cpu") is None
    assert cpu.describe("cpu")["energy"].startswith(f"not measured: no readable RAPL package counter under {tmp_path}")
    _domain(tmp_path, "intel-rapl:0", 1)
    assert cpu.describe("cpu")["energy"] == "measured: RAPL, 1 package(s) (intel-rapl:0)"


def test_an_unreadable_counter_is_no_meter(tmp_path):
    package = _domain(tmp_path, "intel-rapl:0", 1)
    (package / "energy_uj").write_text("not a number\n")  # stands in for root-only 0400 counters
    assert _cpu(tmp_path).energy_meter("cpu") is None
