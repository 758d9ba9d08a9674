"""Hardware plugins: the CPU, NVML energy behind the interface, and CUDA where a GPU exists."""

from __future__ import annotations

import pytest
import torch

from ucdbench_plugins.hardware.cpu import CPU
from ucdbench_plugins.hardware.cuda import CUDA, NVMLEnergyMeter

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")


def test_cpu_describes_itself():
    info = CPU().describe("cpu")
    assert info["kind"] == "cpu" and info["threads"] == torch.get_num_threads()
    assert info["cores"] >= 1 and info["name"]


def test_cpu_time_call_measures_the_call():
    import time

    assert 0.02 <= CPU().time_call(lambda: time.sleep(0.03), torch.device("cpu")) < 1.0


def test_nvml_energy_meter_reads_millijoules_as_joules():
    class FakeNVML:
        readings = iter([1_000_000, 1_250_500])

        def nvmlDeviceGetTotalEnergyConsumption(self, handle):
            assert handle == "gpu0"
            return next(self.readings)

    meter = NVMLEnergyMeter("gpu0", FakeNVML())
    before, after = meter.joules(), meter.joules()
    assert after - before == pytest.approx(250.5)


def test_cuda_says_why_it_is_unavailable():
    if torch.cuda.is_available():
        assert CUDA().unavailable_reason() is None
    else:
        assert "no CUDA device is visible" in CUDA().unavailable_reason()


@pytest.mark.ucdbench_cuda
@needs_cuda
def test_cuda_event_timing_and_memory():
    hardware, device = CUDA(), torch.device("cuda:0")
    x = torch.randn(2048, 2048, device=device)
    hardware.reset_peak_memory(device)
    seconds = hardware.time_call(lambda: x @ x, device)
    assert seconds > 0
    assert hardware.peak_memory_bytes(device) >= x.numel() * 4
    info = hardware.describe("cuda:0")
    assert info["memory_bytes"] > 0 and info["name"]
    assert len(hardware.devices()) == torch.cuda.device_count()


@pytest.mark.ucdbench_cuda
@needs_cuda
def test_nvml_energy_grows_under_load():
    hardware, device = CUDA(), torch.device("cuda:0")
    meter = hardware.energy_meter(device)
    if meter is None:
        pytest.skip("this GPU or driver exposes no NVML energy counter")
    x = torch.randn(4096, 4096, device=device)
    before = meter.joules()
    for _ in range(200):
        x = x @ x / 4096
    torch.cuda.synchronize()
    assert meter.joules() >= before
