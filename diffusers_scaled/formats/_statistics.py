"""Where each latent space keeps its numbers, and its arithmetic in the stock pipelines' operation order.

Every class reads its numbers from the VAE (config keys or buffers) when a pipeline needs them, never from a table of
constants, and applies them exactly as the stock pipeline code does, so that results are bitwise identical:

| class                    | numbers read from                                          | `scale` (raw -> denoiser)          | `unscale` (denoiser -> raw)    | stock code              |
| ------------------------ | ---------------------------------------------------------- | ---------------------------------- | ------------------------------ | ----------------------- |
| `ConfigScaling`          | `vae.config`: `scaling_factor`, `shift_factor`, `latents_mean/std` | see `LatentScaling`          | see `LatentScaling`            | SD, SDXL, SD3, Flux, Z-Image |
| `FactorScaling`          | `vae.config`: `scaling_factor` (the rest ignored)          | `scaling_factor * z`               | `z / scaling_factor`           | SDXL ControlNet inpaint, T2I-Adapter XL, Kolors |
| `ReciprocalFactorScaling` | `vae.config`: `scaling_factor` (the rest ignored)         | `scaling_factor * z`               | `1 / scaling_factor * z`       | T2I-Adapter (SD 1.x/2.x) |
| `ReciprocalStdScaling`   | `vae.config`: `latents_mean`, `latents_std`                | `(z - mean) * (1 / std)`           | `x / (1 / std) + mean`         | Qwen-Image (t2i, img2img) |
| same, `encode_divides`   | same                                                       | `(z - mean) / std`                 | `x / (1 / std) + mean`         | Qwen-Image edit         |
| `BatchNormScaling`       | `vae.bn.running_mean`, `vae.bn.running_var`, `vae.config.batch_norm_eps` | `(z - mean) / sqrt(var + eps)` | `x * sqrt(var + eps) + mean` | Flux.2          |

The statistics broadcast over every axis but the channel axis (dimension 1), for 4-D and 5-D latents alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..scaling import CHANNEL_DIM, LatentScaling


def _channel_view(values: torch.Tensor, ndim: int) -> torch.Tensor:
    shape = [1] * ndim
    shape[CHANNEL_DIM] = -1
    return values.view(shape)


def _config_value(vae, key: str):
    value = getattr(vae.config, key, None)
    if value is None:
        raise ValueError(
            f"The {type(vae).__name__} config has no `{key}`, which this latent format reads. Set it with "
            f"`vae.register_to_config({key}=...)` (`diffusers_scaled.calibrate` estimates per-channel statistics)."
        )
    return value


class ConfigScaling:
    """`LatentScaling` read from `vae.config` (`scaling_factor`, optional `shift_factor`, `latents_mean/std`)."""

    description = "`scaling_factor`, `shift_factor`, `latents_mean`/`latents_std` in `vae.config`"

    @staticmethod
    def from_vae(vae) -> LatentScaling:
        return LatentScaling.from_config(vae.config)


class FactorScaling:
    """`LatentScaling` with `vae.config.scaling_factor` alone: the SDXL-era pipelines that ignore the config's
    `latents_mean`/`latents_std` (and `shift_factor`) on both their paths, so that a Playground-style VAE's statistics
    never enter their latents."""

    description = "`scaling_factor` in `vae.config` (its `latents_mean`/`latents_std` ignored, as the pipeline does)"

    @staticmethod
    def from_vae(vae) -> LatentScaling:
        return LatentScaling(scaling_factor=_config_value(vae, "scaling_factor"))


@dataclass(frozen=True)
class _ReciprocalFactor(LatentScaling):
    # `LatentScaling(scaling_factor)` whose unscale multiplies by the factor's reciprocal, as the deprecated
    # `decode_latents` of the SD 1.x/2.x pipelines does (`1 / scaling_factor * latents`, rounded differently from a
    # division).
    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        return 1 / self.scaling_factor * latents


class ReciprocalFactorScaling:
    """`vae.config.scaling_factor` alone, decoded as `1 / scaling_factor * latents`: the T2I-Adapter pipeline for SD
    1.x/2.x, whose `__call__` decodes through the deprecated `decode_latents`."""

    description = "`scaling_factor` in `vae.config`"

    @staticmethod
    def from_vae(vae) -> LatentScaling:
        return _ReciprocalFactor(scaling_factor=_config_value(vae, "scaling_factor"))


@dataclass(frozen=True)
class ReciprocalStdScaling:
    r"""
    Per-channel `latents_mean` / `latents_std` from `vae.config` with no `scaling_factor`, applied as the Qwen-Image
    and Wan pipelines do: the standard deviation is inverted first (`1.0 / std`, in the latents' dtype) and the
    latents are divided by that inverse.

    Args:
        latents_mean (`tuple[float, ...]`): per-channel means (`vae.config.latents_mean`).
        latents_std (`tuple[float, ...]`): per-channel standard deviations (`vae.config.latents_std`).
        encode_divides (`bool`): scale as `(z - mean) / std` (Qwen-Image edit) instead of `(z - mean) * (1 / std)`.
    """

    latents_mean: tuple[float, ...]
    latents_std: tuple[float, ...]
    encode_divides: bool = False

    description = "`latents_mean`/`latents_std` in `vae.config`"

    @classmethod
    def from_vae(cls, vae, encode_divides: bool = False) -> "ReciprocalStdScaling":
        mean, std = _config_value(vae, "latents_mean"), _config_value(vae, "latents_std")
        if len(mean) != len(std):
            raise ValueError(
                f"The VAE config's `latents_mean` has {len(mean)} channels but `latents_std` has {len(std)}."
            )
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std), encode_divides)

    def _stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if latents.shape[CHANNEL_DIM] != len(self.latents_mean):
            raise ValueError(
                f"`latents` must have {len(self.latents_mean)} channels on dimension {CHANNEL_DIM} to match the VAE "
                f"config's `latents_mean`/`latents_std`, got a tensor of shape {tuple(latents.shape)}."
            )
        mean = _channel_view(torch.tensor(self.latents_mean), latents.ndim).to(latents.device, latents.dtype)
        std = _channel_view(torch.tensor(self.latents_std), latents.ndim).to(latents.device, latents.dtype)
        return mean, std

    def scale(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents -> denoiser latents."""
        mean, std = self._stats(latents)
        if self.encode_divides:
            return (latents - mean) / std
        return (latents - mean) * (1.0 / std)

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        """Denoiser latents -> raw VAE latents."""
        mean, std = self._stats(latents)
        return latents / (1.0 / std) + mean


class DividesByStd:
    """The arithmetic `(z - mean) / std` (raw -> denoiser) and `x * std + mean` (back), with no reciprocal, over the
    per-channel `(mean, std)` that the class's `_stats(latents)` gives: Flux.2 (BatchNorm statistics) and
    Motif-Video (config statistics)."""

    def scale(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents -> denoiser latents: `(z - mean) / std`."""
        mean, std = self._stats(latents)
        return (latents - mean) / std

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        """Denoiser latents -> raw VAE latents: `x * std + mean`."""
        mean, std = self._stats(latents)
        return latents * std + mean


@dataclass(frozen=True)
class BatchNormScaling(DividesByStd):
    r"""
    Per-channel statistics kept as a BatchNorm layer's running statistics, as Flux.2's `AutoencoderKLFlux2` keeps them
    (`vae.bn.running_mean`, `vae.bn.running_var`, `vae.config.batch_norm_eps`), applied as `pipeline_flux2.py` does.

    Args:
        running_mean (`torch.Tensor`): per-channel means.
        running_var (`torch.Tensor`): per-channel variances.
        eps (`float`): added to the variance before its square root.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor
    eps: float

    description = "`vae.bn.running_mean`/`running_var` buffers and `vae.config.batch_norm_eps`"

    @classmethod
    def from_vae(cls, vae) -> "BatchNormScaling":
        bn = getattr(vae, "bn", None)
        if not isinstance(getattr(bn, "running_mean", None), torch.Tensor):
            raise ValueError(
                f"This latent format reads the VAE's BatchNorm running statistics (`vae.bn.running_mean`), but the "
                f"{type(vae).__name__} has none."
            )
        return cls(bn.running_mean, bn.running_var, float(_config_value(vae, "batch_norm_eps")))

    def _stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if latents.shape[CHANNEL_DIM] != self.running_mean.numel():
            raise ValueError(
                f"`latents` must have {self.running_mean.numel()} channels on dimension {CHANNEL_DIM} to match the "
                f"VAE's BatchNorm statistics, got a tensor of shape {tuple(latents.shape)}."
            )
        mean = _channel_view(self.running_mean, latents.ndim).to(latents.device, latents.dtype)
        std = torch.sqrt(_channel_view(self.running_var, latents.ndim) + self.eps).to(latents.device, latents.dtype)
        return mean, std
