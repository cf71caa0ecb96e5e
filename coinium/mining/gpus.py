"""Which GPUs a miner may use: ``--gpu`` / ``--gpu=auto`` / ``--gpu-devices``, checked up front.

The check loads the `cuda` kernel backend in the calling process (it initialises the CUDA driver
there, which spawned worker processes do not inherit) and lists the devices. ``--gpu`` without a
usable GPU is an error the command line reports in one line; ``--gpu=auto`` mines on the CPU
alone and says so once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GPU_MODES = ("off", "on", "auto")


class GpuUnavailable(Exception):
    """No GPU can be used as asked (no driver, no device, a device number that does not exist)."""


@dataclass(frozen=True, slots=True)
class Gpu:
    device: int
    name: str


def parse_devices(text: str | None) -> tuple[int, ...] | None:
    """``"0,1"`` -> (0, 1); None or "all" -> None (every device). ValueError on anything else."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    try:
        devices = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"GPU devices are numbers separated by commas, not {text!r}") from None
    if any(d < 0 for d in devices) or len(set(devices)) != len(devices):
        raise ValueError(f"GPU devices must be distinct numbers >= 0, not {text!r}")
    return devices


def find_gpus(devices: Sequence[int] | None = None) -> list[Gpu]:
    """The GPUs asked for (None: every one); raises GpuUnavailable with the reason."""
    from coinium.kernels import KernelBackendError, load_backend

    try:
        backend = load_backend("cuda")
    except KernelBackendError as exc:
        raise GpuUnavailable(str(exc).replace("kernel backend 'cuda' failed to load: ", "")) \
            from None  # fmt: skip
    names = backend.device_names()
    if not names:
        raise GpuUnavailable("the CUDA driver reports no GPU")
    wanted = range(len(names)) if devices is None else devices
    missing = [d for d in wanted if d >= len(names)]
    if missing:
        raise GpuUnavailable(f"no GPU {missing[0]}: this machine has {len(names)} "
                             f"(devices 0-{len(names) - 1})")  # fmt: skip
    return [Gpu(d, names[d]) for d in wanted]


def choose_gpus(mode: str, devices: Sequence[int] | None) -> tuple[list[Gpu], str | None]:
    """The GPUs to mine with for a ``--gpu`` mode, and a note for the user when ``auto`` found
    none. Raises GpuUnavailable when mode is "on" and none can be used."""
    if mode not in GPU_MODES:
        raise ValueError(f"GPU mode must be one of {', '.join(GPU_MODES)}")
    if mode == "off":
        return [], None
    try:
        return find_gpus(devices), None
    except GpuUnavailable as exc:
        if mode == "on":
            raise
        return [], f"no usable GPU ({exc}); mining on the CPU only"
