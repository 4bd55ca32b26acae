"""How a latent space lays its latents out for the denoiser, and how that maps to the VAE's own layout.

Three forms of the same latents, from the VAE to the denoiser:

    VAE layout  --from_vae-->  unpacked (where the statistics apply)  --pack-->  packed (what the denoiser sees)
                <--to_vae---                                          <-unpack-

Every re-layout calls the pipeline's own static methods (`_pack_latents`, `_unpack_latents`, `_patchify_latents`,
...), so that the result is what the pipeline computes, memory layout included.

| layout          | unpacked form                         | packed form                           | used by                |
| --------------- | ------------------------------------- | ------------------------------------- | ---------------------- |
| `PLAIN`         | `(batch, channels, h, w)`             | the same                              | SD, SDXL, SD3, Z-Image |
| `FLUX_PACKED`   | `(batch, channels, h, w)`             | `(batch, h/2 * w/2, channels * 4)`    | Flux.1, Chroma         |
| `QWEN_PACKED`   | `(batch, channels, 1, h, w)`          | `(batch, h/2 * w/2, channels * 4)`    | Qwen-Image             |
| `FLUX2_PACKED`  | `(batch, channels * 4, h/2, w/2)` (2x2 patchified) | `(batch, h/2 * w/2, channels * 4)` | Flux.2             |
| `HUNYUAN_IMAGE_REFINER_FOLDED` | `(batch, channels * 2, 1, h, w)` (the frame doubled, folded into channels) | the same | HunyuanImage 2.1 refiner |
"""

from __future__ import annotations

import torch


def check_packed_latents_size(
    latents: torch.Tensor,
    height: int,
    width: int,
    vae_scale_factor: int,
    latent_channels: int | None = None,
    patch_size: int = 2,
) -> None:
    """
    Latents, packed into `patch_size` x `patch_size` patches (Flux: `(batch, patches, channels * 4)`) or unpacked
    (`(batch, channels, h, w)`), that fit an image of `height` x `width` pixels.

    The sizes are Flux's `_unpack_latents` rule: the latent grid is `patch_size * (height // (vae_scale_factor *
    patch_size))` high, and as wide by the same rule.
    """
    for name, value in (("height", height), ("width", width), ("vae_scale_factor", vae_scale_factor)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int; got {value!r}.")
    if not isinstance(latents, torch.Tensor):
        raise TypeError(f"`latents` must be a torch.Tensor; got {type(latents).__name__}.")
    step = vae_scale_factor * patch_size
    grid_height, grid_width = height // step, width // step
    if grid_height == 0 or grid_width == 0:
        raise ValueError(
            f"`height` and `width` must be at least {step} pixels (the VAE's scale factor {vae_scale_factor} times "
            f"the patch size {patch_size}); got height={height}, width={width}."
        )
    if latents.ndim == 3:
        channels = latents.shape[2] // (patch_size * patch_size) if latent_channels is None else latent_channels
        expected = (latents.shape[0], grid_height * grid_width, channels * patch_size * patch_size)
        layout = f"packed latents ({patch_size}x{patch_size} patches of {channels} latent channels)"
    elif latents.ndim == 4:
        channels = latents.shape[1] if latent_channels is None else latent_channels
        expected = (latents.shape[0], channels, grid_height * patch_size, grid_width * patch_size)
        layout = "unpacked latents"
    else:
        raise ValueError(
            "`latents` must be packed (batch, patches, channels) or unpacked (batch, channels, height, width); got "
            f"shape {tuple(latents.shape)}."
        )
    if tuple(latents.shape) != expected:
        raise ValueError(
            f"`latents` of shape {tuple(latents.shape)} do not fit height={height}, width={width}: {layout} for an image "
            f"of height {height} and width {width} must have shape (batch, {', '.join(map(str, expected[1:]))}), here {expected}. "
            "Pass the `height` and `width` given to the pipeline call."
        )


class Layout:
    """The unpacked form is the denoiser's own (`PLAIN`): nothing to pack, nothing to patchify."""

    name = "plain"
    packs = False
    description = "`(batch, channels, h, w)`"

    def unpacked_ndim(self, pipe) -> int:
        return 4

    def unpacked_channels(self, pipe) -> int | None:
        return getattr(pipe.vae.config, "latent_channels", None)

    def from_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        """VAE layout -> unpacked form."""
        return latents

    def to_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        """Unpacked form -> VAE layout."""
        return latents

    def is_packed(self, latents: torch.Tensor) -> bool:
        return False

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        raise ValueError(
            f"`packed=True` needs a pipeline whose denoiser works on packed latents; {type(pipe).__name__}'s latents "
            "are not packed."
        )

    def unpack(self, pipe, latents: torch.Tensor, height: int | None, width: int | None) -> torch.Tensor:
        return latents


class FluxPacking(Layout):
    """Flux.1's 2x2 packing, with the pipeline's `_pack_latents(latents, batch, channels, h, w)` and
    `_unpack_latents(latents, height, width, vae_scale_factor)`."""

    name = "flux-packed"
    packs = True
    description = "packed 2x2: `(batch, h/2 * w/2, channels * 4)`; unpacked `(batch, channels, h, w)`"

    def is_packed(self, latents: torch.Tensor) -> bool:
        return isinstance(latents, torch.Tensor) and latents.ndim == 3

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        batch_size, channels = latents.shape[:2]
        height, width = latents.shape[-2:]
        return pipe._pack_latents(latents, batch_size, channels, height, width)

    def unpack(self, pipe, latents: torch.Tensor, height: int | None, width: int | None) -> torch.Tensor:
        if not self.is_packed(latents):
            return latents
        check_packed_latents_size(latents, height, width, pipe.vae_scale_factor, self.unpacked_channels(pipe))
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)


class QwenPacking(FluxPacking):
    """Qwen-Image's 2x2 packing: as Flux's, but its VAE works on 5-D latents with one frame, `(batch, channels, 1, h,
    w)`, which `_unpack_latents` returns."""

    name = "qwen-packed"
    description = "packed 2x2: `(batch, h/2 * w/2, channels * 4)`; unpacked `(batch, channels, 1, h, w)`"

    def unpacked_ndim(self, pipe) -> int:
        return 5

    def unpacked_channels(self, pipe) -> int | None:
        return getattr(pipe.vae.config, "z_dim", None)


class Flux2Packing(Layout):
    """Flux.2's layout: the VAE's latents patchified 2x2 into channels (`_patchify_latents`), where the BatchNorm
    statistics apply, then flattened into tokens (`_pack_latents`); unpacked by position ids as the pipeline does
    (`_prepare_latent_ids`, `_unpack_latents_with_ids`)."""

    name = "flux2-packed"
    packs = True
    description = "patchified 2x2 `(batch, channels * 4, h/2, w/2)`; packed `(batch, h/2 * w/2, channels * 4)`"

    def unpacked_channels(self, pipe) -> int | None:
        channels = getattr(pipe.vae.config, "latent_channels", None)
        return None if channels is None else channels * 4

    def from_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._patchify_latents(latents)

    def to_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._unpatchify_latents(latents)

    def is_packed(self, latents: torch.Tensor) -> bool:
        return isinstance(latents, torch.Tensor) and latents.ndim == 3

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._pack_latents(latents)

    def unpack(self, pipe, latents: torch.Tensor, height: int | None, width: int | None) -> torch.Tensor:
        if not self.is_packed(latents):
            return latents
        check_packed_latents_size(
            latents, height, width, pipe.vae_scale_factor, getattr(pipe.vae.config, "latent_channels", None)
        )
        grid_height = 2 * (int(height) // (pipe.vae_scale_factor * 2)) // 2
        grid_width = 2 * (int(width) // (pipe.vae_scale_factor * 2)) // 2
        # The pipeline's own position ids for its grid (`prepare_latents`), then its own scatter back to a grid.
        grid = torch.empty(latents.shape[0], latents.shape[2], grid_height, grid_width, device="meta")
        ids = pipe._prepare_latent_ids(grid).to(latents.device)
        return pipe._unpack_latents_with_ids(latents, ids)


class HunyuanImageRefinerFolding(Layout):
    """The HunyuanImage 2.1 refiner's layout: its VAE's one latent frame is repeated and each pair of frames folded
    into the channels (`_reorder_image_tokens`), where the scaling applies, and unfolded back before decoding
    (`_restore_image_tokens_order`)."""

    name = "hunyuan-image-refiner-folded"
    description = "`(batch, channels * 2, 1, h, w)`: the VAE's frame doubled and folded into the channels"

    def unpacked_ndim(self, pipe) -> int:
        return 5

    def unpacked_channels(self, pipe) -> int | None:
        channels = getattr(pipe.vae.config, "latent_channels", None)
        return None if channels is None else channels * 2

    def from_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._reorder_image_tokens(latents)

    def to_vae(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._restore_image_tokens_order(latents)


PLAIN = Layout()
FLUX_PACKED = FluxPacking()
QWEN_PACKED = QwenPacking()
FLUX2_PACKED = Flux2Packing()
HUNYUAN_IMAGE_REFINER_FOLDED = HunyuanImageRefinerFolding()
