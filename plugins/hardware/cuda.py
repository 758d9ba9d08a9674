"""The ``cuda`` hardware: every visible NVIDIA GPU, CUDA-event timing, NVML energy.

Runs of one invocation are spread one worker per visible GPU by the runner. Energy comes from
NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer) where
nvidia-ml-py and the driver expose it. Light at import: torch and pynvml load on use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ucdbench import hookimpl
from ucdbench.api import EnergyMeter, Hardware


class NVMLEnergyMeter(EnergyMeter):
    """Reads the GPU's cumulative energy counter (millijoules since driver load)."""

    def __init__(self, handle: Any, nvml: Any) -> None:
        self._handle, self._nvml = handle, nvml

    def joules(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1000.0


def _nvml() -> Any | None:
    """The initialised pynvml module, or None where NVML is not usable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def _nvml_handle(nvml: Any, device_index: int) -> Any:
    """NVML's handle for torch's device index, matched by PCI bus id so that
    CUDA_VISIBLE_DEVICES reordering cannot pair the wrong GPU."""
    import torch

    props = torch.cuda.get_device_properties(device_index)
    bus_id = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
    return nvml.nvmlDeviceGetHandleByPciBusId(bus_id)


class CUDA(Hardware):
    name = "cuda"
    accelerator = True  # Ray and Slurm reserve a GPU per run

    def unavailable_reason(self) -> str | None:
        import torch

        if not torch.cuda.is_available():
            return (f"no CUDA device is visible (torch {torch.__version__}, built for CUDA "
                    f"{torch.version.cuda}); use --hardware cpu, or check CUDA_VISIBLE_DEVICES and the driver")
        return None

    def devices(self) -> list[str]:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def describe(self, device: str) -> dict[str, Any]:
        import torch

        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info: dict[str, Any] = {
            "kind": self.name,
            "device": device,
            "name": props.name,
            "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "cuda_runtime": torch.version.cuda,
            "visible_devices": torch.cuda.device_count(),
            "host_threads": torch.get_num_threads(),
        }
        nvml = _nvml()
        if nvml is not None:
            info["driver"] = nvml.nvmlSystemGetDriverVersion()
        return info

    def comparison_class(self, description: Mapping[str, Any]) -> dict[str, Any]:
        """The GPU model, how many are visible and the driver's major version."""
        driver = description.get("driver")
        return {"kind": self.name, "name": description.get("name"), "count": description.get("visible_devices"),
                "driver_major": str(driver).partition(".")[0] if driver else None}

    def synchronize(self, device) -> None:
        import torch

        torch.cuda.synchronize(device)

    def time_call(self, fn: Callable[[], Any], device) -> float:
        """CUDA events around the call; the elapsed time is read after synchronising."""
        import torch

        with torch.cuda.device(device):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
        return start.elapsed_time(end) / 1000.0

    def reset_peak_memory(self, device) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats(device)

    def peak_memory_bytes(self, device) -> int | None:
        import torch

        return int(torch.cuda.max_memory_allocated(device))

    def memory_bytes(self, device: str) -> int | None:
        """The device's free memory now (``cudaMemGetInfo``): other processes' use is taken."""
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])

    def energy_meter(self, device) -> EnergyMeter | None:
        import torch

        nvml = _nvml()
        if nvml is None:
            return None
        try:
            handle = _nvml_handle(nvml, torch.device(device).index or 0)
            meter = NVMLEnergyMeter(handle, nvml)
            meter.joules()  # raises NVMLError_NotSupported on GPUs without the counter
            return meter
        except Exception:
            return None


@hookimpl
def ucdbench_register_hardware(register):
    register("cuda", CUDA, summary="all visible NVIDIA GPUs: CUDA events, peak memory, NVML energy")
