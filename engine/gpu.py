"""Accelerator memory figures: torch's allocator per device, plus device-wide use from NVML when present."""

from __future__ import annotations

import socket
from typing import Any

from engine.events import DeviceMemory

_nvml: Any = None
_nvml_tried = False


def _nvml_handle() -> Any:
    """pynvml, initialised once; None where the NVIDIA library is missing (every CPU box)."""
    global _nvml, _nvml_tried
    if not _nvml_tried:
        _nvml_tried = True
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:
            _nvml = None
    return _nvml


def _nvml_used(index: int) -> int | None:
    nvml = _nvml_handle()
    if nvml is None:
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(_physical_index(index))
        return int(nvml.nvmlDeviceGetMemoryInfo(handle).used)
    except Exception:
        return None


def _physical_index(index: int) -> int:
    """NVML numbers devices physically; torch numbers them after CUDA_VISIBLE_DEVICES."""
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if ids and index < len(ids) and ids[index].isdigit():
        return int(ids[index])
    return index


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def sample(devices: list[int] | None = None) -> list[DeviceMemory]:
    """Memory of the given CUDA devices of this process (all visible ones by default); [] without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    host = socket.gethostname()
    indices = range(torch.cuda.device_count()) if devices is None else devices
    out = []
    for i in indices:
        props = torch.cuda.get_device_properties(i)
        out.append(
            DeviceMemory(
                index=i,
                name=props.name,
                allocated=int(torch.cuda.memory_allocated(i)),
                reserved=int(torch.cuda.memory_reserved(i)),
                peak=int(torch.cuda.max_memory_allocated(i)),
                total=int(props.total_memory),
                used=_nvml_used(i),
                host=host,
            )
        )
    return out


def describe_device(use_cpu: bool = False) -> tuple[str, list[str]]:
    """A one-line description of where training runs, and the device names."""
    import os

    import torch

    if not use_cpu and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        text = ", ".join(f"{c} × {n}" for n, c in counts.items())
        return f"CUDA: {text}", names
    if not use_cpu and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "Apple MPS (no CUDA)", ["mps"]
    cores = os.cpu_count() or 1
    return f"CPU ({cores} cores, {torch.get_num_threads()} threads; no GPU)", []


def bf16_supported() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def sample_all_ranks(world_size: int) -> list[DeviceMemory]:
    """Every process's own device, gathered so the main process can report all of them.

    A collective: every rank must call it at the same point.
    """
    import torch
    import torch.distributed as dist

    mine: list[DeviceMemory] = []
    if torch.cuda.is_available():
        mine = sample([torch.cuda.current_device()])
    if world_size <= 1 or not (dist.is_available() and dist.is_initialized()):
        return mine
    gathered: list[list[DeviceMemory] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    seen: set[tuple[str, int]] = set()
    out = []
    for part in gathered:
        for dev in part or []:
            # Two ranks on one GPU (oversubscribed) would otherwise count it twice.
            if (dev.host, dev.index) not in seen:
                seen.add((dev.host, dev.index))
                out.append(dev)
    return out
