"""CPU energy from the kernel's RAPL counters (Linux powercap, ``/sys/class/powercap``).

Each CPU package is a domain ``intel-rapl:N`` (AMD's Zen packages too, on recent kernels) with a
cumulative ``energy_uj`` counter that wraps to 0 past ``max_energy_range_uj``. Its subdomains
(``intel-rapl:N:M``: cores, uncore, DRAM) are left out: the package counts the cores and the
uncore already. The counters are the whole package's, so another process's work is counted too;
and many systems let only root read them, in which case there is no meter (never an estimate).
"""

from __future__ import annotations

import re
from pathlib import Path

from ucdbench.api import EnergyMeter

POWERCAP = Path("/sys/class/powercap")
PACKAGE = re.compile(r"intel-rapl:\d+")


def readable_packages(powercap: Path = POWERCAP) -> list[Path]:
    """The package domains under ``powercap`` whose counters this process can read."""
    found = []
    for domain in sorted(powercap.glob("intel-rapl:*")):
        if not PACKAGE.fullmatch(domain.name):
            continue
        try:
            int((domain / "energy_uj").read_text())
            int((domain / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        found.append(domain)
    return found


class RaplMeter(EnergyMeter):
    """Joules the CPU packages used since the meter was made: each counter's increase since the
    last reading, one wrap-around undone (a reading lower than the last wrapped past its range;
    read at least once per wrap, minutes at full power)."""

    def __init__(self, packages: list[Path]) -> None:
        self.packages = packages
        self.ranges = [int((p / "max_energy_range_uj").read_text()) for p in packages]
        self.last = [self._read(p) for p in packages]
        self.total_uj = 0

    @staticmethod
    def _read(package: Path) -> int:
        return int((package / "energy_uj").read_text())

    def joules(self) -> float:
        for i, package in enumerate(self.packages):
            now = self._read(package)
            self.total_uj += now - self.last[i] if now >= self.last[i] else now + self.ranges[i] - self.last[i]
            self.last[i] = now
        return self.total_uj / 1e6


def describe_energy(powercap: Path = POWERCAP) -> str:
    """What a record says of the CPU's energy: the meter, or that energy is not measured, and why."""
    packages = readable_packages(powercap)
    if packages:
        return f"measured: RAPL, {len(packages)} package(s) ({', '.join(p.name for p in packages)})"
    return f"not measured: no readable RAPL package counter under {powercap} (absent, or readable by root only)"
