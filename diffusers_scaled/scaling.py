"""Pure arithmetic between a VAE's raw latent space and the space a denoiser works in.

Every code path of this package that scales or unscales latents goes through `LatentScaling`; nothing re-implements
the formulas inline. The operation order of each formula is the one the diffusers pipelines use, so that results are
bitwise identical to theirs:

| config keys present                       | `scale` (raw -> denoiser)          | `unscale` (denoiser -> raw)          | used by          |
| ----------------------------------------- | ---------------------------------- | ------------------------------------ | ---------------- |
| `scaling_factor`                          | `scaling_factor * z`               | `z / scaling_factor`                 | SD 1.x/2.x, SDXL |
| `scaling_factor`, `shift_factor`          | `(z - shift_factor) * scaling_factor` | `z / scaling_factor + shift_factor` | SD3, Flux        |
| `scaling_factor`, `latents_mean/std`      | `(z - mean) * scaling_factor / std` | `z * std / scaling_factor + mean`    | SDXL variants (Playground v2.5) |
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


__all__ = ["LatentScaling"]

# The channel axis of latents: (batch, channels, height, width) for images, (batch, channels, frames, height, width)
# for video VAEs. Per-channel statistics broadcast over every other axis.
CHANNEL_DIM = 1


def _as_float_tuple(name: str, value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.flatten().tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{name}` must be a sequence of numbers (one per latent channel), got {type(value).__name__}."
        )
    values = tuple(float(v) for v in value)
    if len(values) == 0:
        raise ValueError(f"`{name}` must have one value per latent channel, got an empty sequence.")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"`{name}` must contain finite numbers only, got {values}.")
    return values


@dataclass(frozen=True)
class LatentScaling:
    r"""
    The affine map between raw VAE latents and the latents a denoiser (UNet, transformer) works in.

    `scale` maps raw VAE latents (what `vae.encode` returns) to denoiser latents (what the UNet sees and what a pipeline
    returns with `output_type="latent"`); `unscale` maps denoiser latents back to raw latents for `vae.decode`. The two
    are inverses up to floating-point rounding.

    Args:
        scaling_factor (`float`):
            Multiplier that gives the denoiser latents roughly unit variance (`vae.config.scaling_factor`: 0.18215 for
            SD 1.x/2.x, 0.13025 for SDXL). Must be finite and non-zero.
        shift_factor (`float`, *optional*):
            Offset subtracted before scaling (`vae.config.shift_factor`: SD3, Flux). `None` means no shift.
        latents_mean (`tuple[float, ...]`, *optional*):
            Per-channel mean subtracted before scaling (`vae.config.latents_mean`). Needs `latents_std`.
        latents_std (`tuple[float, ...]`, *optional*):
            Per-channel standard deviation divided out after scaling (`vae.config.latents_std`). Needs `latents_mean`.

    Examples:

    ```py
    >>> import torch
    >>> from diffusers_scaled import LatentScaling

    >>> scaling = LatentScaling(scaling_factor=0.18215)
    >>> raw = torch.randn(1, 4, 8, 8)
    >>> torch.allclose(scaling.unscale(scaling.scale(raw)), raw)
    True
    ```
    """

    scaling_factor: float
    shift_factor: float | None = None
    latents_mean: tuple[float, ...] | None = None
    latents_std: tuple[float, ...] | None = None

    def __post_init__(self):
        if isinstance(self.scaling_factor, bool) or not isinstance(self.scaling_factor, (int, float)):
            raise TypeError(f"`scaling_factor` must be a number, got {type(self.scaling_factor).__name__}.")
        if not math.isfinite(self.scaling_factor) or self.scaling_factor == 0:
            raise ValueError(f"`scaling_factor` must be finite and non-zero, got {self.scaling_factor}.")
        if self.shift_factor is not None:
            if isinstance(self.shift_factor, bool) or not isinstance(self.shift_factor, (int, float)):
                raise TypeError(f"`shift_factor` must be a number or None, got {type(self.shift_factor).__name__}.")
            if not math.isfinite(self.shift_factor):
                raise ValueError(f"`shift_factor` must be finite, got {self.shift_factor}.")
        object.__setattr__(self, "latents_mean", _as_float_tuple("latents_mean", self.latents_mean))
        object.__setattr__(self, "latents_std", _as_float_tuple("latents_std", self.latents_std))
        if (self.latents_mean is None) != (self.latents_std is None):
            raise ValueError(
                "`latents_mean` and `latents_std` must be given together, got "
                f"latents_mean={self.latents_mean} and latents_std={self.latents_std}."
            )
        if self.latents_mean is not None:
            if len(self.latents_mean) != len(self.latents_std):
                raise ValueError(
                    f"`latents_mean` has {len(self.latents_mean)} channels but `latents_std` has "
                    f"{len(self.latents_std)}; they must have one value per latent channel each."
                )
            if any(s == 0 for s in self.latents_std):
                raise ValueError(f"`latents_std` must be non-zero in every channel, got {self.latents_std}.")
            if self.shift_factor is not None:
                raise ValueError(
                    "A VAE config with both `shift_factor` and `latents_mean`/`latents_std` is ambiguous: no diffusers "
                    "pipeline applies both. Set one of them to None."
                )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Any) -> "LatentScaling":
        r"""
        Reads the scaling from a VAE config (`vae.config`, a `FrozenDict` or any mapping or object with attributes).

        Keys read: `scaling_factor` (required), `shift_factor`, `latents_mean`, `latents_std` (optional; `None` or
        absent means not applied). Per-channel statistics apply only when both `latents_mean` and `latents_std` are
        set, as in the diffusers pipelines.

        Args:
            config (`Mapping` or config object):
                The VAE config, for example `pipe.vae.config`.

        Returns:
            `LatentScaling`: the scaling described by the config.

        Raises:
            `ValueError`: if the config has no `scaling_factor`.
        """

        def get(key):
            if isinstance(config, Mapping):
                return config.get(key)
            return getattr(config, key, None)

        scaling_factor = get("scaling_factor")
        if scaling_factor is None:
            raise ValueError(
                "The VAE config has no `scaling_factor`, so the latent scaling is unknown. Set "
                "`vae.register_to_config(scaling_factor=...)` (0.18215 for SD 1.x/2.x VAEs, 0.13025 for SDXL) or "
                "compute one for your VAE with `diffusers_scaled.calibrate`."
            )
        latents_mean, latents_std = get("latents_mean"), get("latents_std")
        if latents_mean is None or latents_std is None:
            # diffusers applies per-channel statistics only when both are present.
            latents_mean = latents_std = None
        return cls(
            scaling_factor=scaling_factor,
            shift_factor=get("shift_factor"),
            latents_mean=latents_mean,
            latents_std=latents_std,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, JSON-ready (`latents_mean` / `latents_std` as lists): what the tools record in
        metadata and print. `from_dict` reads it back."""
        values = {
            name: getattr(self, name) for name in ("scaling_factor", "shift_factor", "latents_mean", "latents_std")
        }
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LatentScaling":
        """The scaling `to_dict` describes (unknown keys raise a `TypeError`)."""
        return cls(**data)

    @property
    def formula(self) -> str:
        """What `scale` computes, in words (`z`: raw latents), as in the table at the top of this module."""
        if self.is_per_channel:
            return "scaled = (z - latents_mean) * scaling_factor / latents_std"
        if self.shift_factor is not None:
            return "scaled = (z - shift_factor) * scaling_factor"
        return "scaled = scaling_factor * z"

    def describe(self) -> str:
        """The fields that are set, for people: `"scaling_factor=0.18215, shift_factor=0.0609"` (6 significant
        digits)."""
        return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.to_dict().items())

    @property
    def is_per_channel(self) -> bool:
        """Whether per-channel `latents_mean` / `latents_std` are applied."""
        return self.latents_mean is not None

    def _channel_stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        num_channels = len(self.latents_mean)
        if latents.ndim < 2 or latents.shape[CHANNEL_DIM] != num_channels:
            raise ValueError(
                f"`latents` must have {num_channels} channels on dimension {CHANNEL_DIM} to match the VAE config's "
                f"`latents_mean`/`latents_std`, got a tensor of shape {tuple(latents.shape)}."
            )
        shape = [1] * latents.ndim
        shape[CHANNEL_DIM] = num_channels
        # Same construction as the pipelines: a float32 tensor from the config values, cast to the latents' dtype.
        mean = torch.tensor(self.latents_mean).view(shape).to(latents.device, latents.dtype)
        std = torch.tensor(self.latents_std).view(shape).to(latents.device, latents.dtype)
        return mean, std

    def scale(self, latents: torch.Tensor) -> torch.Tensor:
        r"""
        Raw VAE latents -> denoiser latents.

        Args:
            latents (`torch.Tensor`): raw latents as returned by `vae.encode`, channels on dimension 1.

        Returns:
            `torch.Tensor`: latents in the denoiser's space, same shape, dtype and device.
        """
        if self.is_per_channel:
            mean, std = self._channel_stats(latents)
            return (latents - mean) * self.scaling_factor / std
        if self.shift_factor is not None:
            return (latents - self.shift_factor) * self.scaling_factor
        return self.scaling_factor * latents

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        r"""
        Denoiser latents -> raw VAE latents (the inverse of `scale`).

        Args:
            latents (`torch.Tensor`): latents in the denoiser's space, channels on dimension 1.

        Returns:
            `torch.Tensor`: raw latents ready for `vae.decode`, same shape, dtype and device.
        """
        if self.is_per_channel:
            mean, std = self._channel_stats(latents)
            return latents * std / self.scaling_factor + mean
        if self.shift_factor is not None:
            return latents / self.scaling_factor + self.shift_factor
        return latents / self.scaling_factor
