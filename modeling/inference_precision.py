"""The dtype a model computes in at inference: float32, or bfloat16 where the hardware computes it natively.

bfloat16 halves the bytes every convolution and matrix product moves, and CPUs with AVX-512 BF16 (or AMX) run
them on dedicated instructions: about 2x the float32 speed of both models on such a CPU
(`scripts/benchmark_inference_dtypes.py`, which also checks agreement with float32 on real footage). Without native
support bfloat16 is emulated and slower than float32, so a request for it falls back to float32 with one log line
rather than slowing the user down. int8 (dynamic quantisation) was measured too and is not offered: it is hardly
faster than float32 for GCA-ResNet, whose time is spent in convolutions, and slower than bfloat16 for LOGO-Former.
"""

import logging

import torch

from .batch_norm_fusion import fuse_batch_norm

logger = logging.getLogger(__name__)

# Named as `from_pretrained(dtype=...)` and `pipeline(dtype=...)` name them.
INFERENCE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def supports_native_bfloat16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 convolutions and matrix products natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)  # Ampere and later; the device asked for
    if device.type == "cpu":
        # oneDNN's own check (`torch.ops.mkldnn._is_mkldnn_bf16_supported`) only asks for AVX-512, which Skylake to
        # Ice Lake have without any bfloat16 instruction; ask for the instructions themselves.
        cpu = torch.cpu
        probes = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        if any(callable(probe) for probe in probes):
            return any(probe() for probe in probes if callable(probe))
        return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return False


_MISSING_SUPPORT = {"cuda": ("GPU", "compute capability 8.0 (Ampere) or later"), "cpu": ("CPU", "AVX-512 BF16 or AMX")}


def resolve_inference_dtype(name: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype to run in for a requested one ("float32", "bfloat16" or a `torch.dtype`): bfloat16 only where
    `device` supports it natively, else float32 with a warning. `ValueError` for any other dtype."""
    dtype = name if isinstance(name, torch.dtype) else INFERENCE_DTYPES.get(str(name))
    if dtype not in INFERENCE_DTYPES.values():
        raise ValueError(f"--dtype {name}: inference runs in one of {', '.join(INFERENCE_DTYPES)}.")
    if dtype == torch.bfloat16 and not supports_native_bfloat16(device):
        what, needs = _MISSING_SUPPORT.get(device.type, (device.type, "no bfloat16 path in dfer for this device"))
        logger.warning(
            "bfloat16 asked for, but this %s has no native bfloat16 support (%s): running in float32.", what, needs
        )
        return torch.float32
    return dtype


def prepare_for_inference(model, dtype: torch.dtype = torch.float32):
    """`model` in eval mode with its BatchNorms folded (where it has any) and cast to `dtype`: the fold is made
    from the float32 weights and each folded weight rounded to bfloat16 once (`GcaResNetConvLayer._apply`).
    Returns the model."""
    model = fuse_batch_norm(model.eval())
    return model.to(dtype) if dtype != model.dtype else model


__all__ = ["INFERENCE_DTYPES", "prepare_for_inference", "resolve_inference_dtype", "supports_native_bfloat16"]
