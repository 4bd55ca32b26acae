"""`LatentFormat`: one latent space, described by data (where its numbers live, its layout, its VAE call) and applied
in its stock pipelines' operation order.

A format answers four questions for `encode_latents` / `decode_latents`, each with a small object:

- the arithmetic between raw VAE latents and denoiser latents, and where its numbers live (`statistics`, see
  `_statistics.py`);
- the layout: packed or not, patchified or not (`layout`, see `_layouts.py`);
- the VAE call: 4-D images, or 5-D with a frame axis (`frame_axis`: one frame in, `[:, :, 0]` out, as Qwen-Image);
- the processor: the pipeline's `image_processor` (image formats) or `video_processor` (video formats).

The mixin conducts; a format never calls back into the mixin. A family whose VAE call or processing differs beyond
these fields subclasses `LatentFormat` and overrides the step that differs (`vae_input`, `vae_output`, `processor`,
`preprocess`, `postprocess`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .. import _image_io, _validation, checks
from ._layouts import PLAIN, Layout
from ._statistics import ConfigScaling


def checked_image(image, vae, processor, height: int | None, width: int | None):
    """`image` checked (`_validation.check_image` raises on what cannot be encoded), then converted to RGB where
    `docs/reliability.md` says so."""
    _validation.check_image(image, vae, processor, height, width)
    return _image_io.convert_to_rgb(image, vae, processor, height, width)


@dataclass(frozen=True)
class LatentFormat:
    r"""
    One latent space of a diffusers pipeline family.

    Args:
        name (`str`):
            The family's name as users know it (`"Qwen-Image"`).
        statistics (`type`, *optional*, defaults to `ConfigScaling`):
            Reads the scaling from the VAE: a class with `from_vae(vae, **statistics_options)` returning an object
            with `scale(raw) -> denoiser` and `unscale(denoiser) -> raw`.
        statistics_options (`dict`, *optional*):
            Keyword arguments for `statistics.from_vae` (an operation-order variant, e.g. `encode_divides=True`).
        layout (`Layout`, *optional*, defaults to `PLAIN`):
            How the denoiser's latents are laid out, relative to the VAE's.
        frame_axis (`bool`, *optional*, defaults to `False`):
            Whether the VAE works on 5-D `(batch, channels, frames, height, width)` tensors and is fed images as one
            frame (`pixels.unsqueeze(2)`, decoded `[:, :, 0]`), as Qwen-Image's.
        sample_mode (`str`, *optional*, defaults to `"sample"`):
            The posterior sampling the family's stock image-conditioned pipeline uses (`"argmax"` for Flux.2 and
            Qwen-Image edit): `encode_latents`' default.
        formula (`str`):
            The arithmetic in words, for docs and `describe()`: `"(z - shift) * f"`.
        encodes_one_by_one (`bool`, *optional*, defaults to `False`):
            Whether the stock pipeline encodes each conditioning image on its own (Flux.2's reference images): a batch
            is then encoded one image at a time, with the same generator, which CPU kernels may round differently
            from one batched call.
        resolution_binning (`bool`, *optional*, defaults to `False`):
            Whether the family's stock pipelines can generate at an aspect-ratio bin near the requested size and resize
            the decoded image back to it (`use_resolution_binning=True`, their default: PixArt, Sana). `decode_latents`
            then takes the requested `height` and `width` and does the same (`to_requested_size`).
        conditioned_by (`str`, *optional*):
            The stock pipeline whose encoding `encode_latents` reproduces (`"QwenImageImg2ImgPipeline._encode_vae_image"`).
    """

    name: str
    formula: str
    statistics: Any = ConfigScaling
    statistics_options: dict = field(default_factory=dict)
    layout: Layout = PLAIN
    frame_axis: bool = False
    sample_mode: str = "sample"
    encodes_one_by_one: bool = False
    resolution_binning: bool = False
    conditioned_by: str | None = None

    # statistics ---------------------------------------------------------------------------------------------------

    def scaling(self, vae):
        """The scaling object for `vae`, its numbers read now (they follow the VAE's config and buffers)."""
        return self.statistics.from_vae(vae, **self.statistics_options)

    def scale(self, pipe, raw: torch.Tensor, scaling=None) -> torch.Tensor:
        """Raw latents in the VAE's layout -> unpacked denoiser latents. `scaling`: `self.scaling(pipe.vae)` if None."""
        scaling = self.scaling(pipe.vae) if scaling is None else scaling
        return scaling.scale(self.layout.from_vae(pipe, raw))

    def unscale(self, pipe, latents: torch.Tensor, scaling=None) -> torch.Tensor:
        """Unpacked denoiser latents -> raw latents in the VAE's layout. `scaling`: as in `scale`."""
        scaling = self.scaling(pipe.vae) if scaling is None else scaling
        return self.layout.to_vae(pipe, scaling.unscale(latents))

    # layout -------------------------------------------------------------------------------------------------------

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        """Unpacked -> packed denoiser latents (raises for formats that do not pack)."""
        return self.layout.pack(pipe, latents)

    def unpack(
        self,
        pipe,
        latents: torch.Tensor,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
    ) -> torch.Tensor:
        """Packed -> unpacked denoiser latents; unpacked ones come back unchanged. `num_frames`: for video layouts
        whose packing forgets the frame count (image layouts ignore it)."""
        return self.layout.unpack(pipe, latents, height, width)

    def unpacked_ndim(self, pipe) -> int:
        return self.layout.unpacked_ndim(pipe)

    def unpacked_channels(self, pipe) -> int | None:
        return self.layout.unpacked_channels(pipe)

    # VAE call -----------------------------------------------------------------------------------------------------

    def vae_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Preprocessed pixels -> what `vae.encode` takes."""
        return pixels.unsqueeze(2) if self.frame_axis else pixels

    def vae_encode(self, pipe, pixels: torch.Tensor, encode, generator=None) -> torch.Tensor:
        """What `vae_input` gave -> raw latents, through `encode(x, generator)` (the VAE's encode with the posterior
        sampling, float16 overflow retry included): one call here. Families whose stock pipeline splits the batch into
        several VAE calls (frames as images, in chunks) override this."""
        return encode(pixels, generator)

    def vae_decode(self, pipe, raw: torch.Tensor, decode, generator=None, **options) -> torch.Tensor:
        """Raw latents -> what the processor post-processes, through `decode(x, **vae_kwargs)` (the VAE's decode,
        float16 overflow retry included): `vae_decode_inputs`, one call, `vae_output`. Families whose stock pipeline
        splits the batch into several VAE calls override this; `options`: `decode_latents`' extra keyword arguments."""
        raw, decode_kwargs = self.vae_decode_inputs(pipe, raw, generator, **options)
        return self.vae_output(decode(raw, **decode_kwargs))

    def vae_decode_inputs(self, pipe, raw: torch.Tensor, generator=None, **options) -> tuple[torch.Tensor, dict]:
        """Raw latents -> (what `vae.decode` takes, its extra keyword arguments). Formats whose decoder call takes
        options (LTX-Video's timestep) override this; here there are none."""
        if options:
            raise TypeError(
                f"`decode_latents` got unexpected keyword arguments for {self.name} latents: {sorted(options)}."
            )
        return raw, {}

    def vae_output(self, decoded: torch.Tensor) -> torch.Tensor:
        """What `vae.decode` returns -> what the processor post-processes."""
        return decoded[:, :, 0] if self.frame_axis else decoded

    def check_requested_size(self, height: int | None, width: int | None) -> None:
        """For `resolution_binning` formats: `height` and `width` come together, as positive integers."""
        if not self.resolution_binning or (height is None and width is None):
            return
        if height is None or width is None:
            raise ValueError(
                f"`height` and `width` go together: {self.name} resizes the decoded images to the size the pipeline "
                f"call asked for; got height={height!r}, width={width!r}."
            )
        checks.check_positive_int("height", height)
        checks.check_positive_int("width", width)

    def to_requested_size(self, pipe, decoded: torch.Tensor, height: int | None, width: int | None) -> torch.Tensor:
        """
        Decoded images (the VAE's output range) at the size the pipeline call asked for. A `resolution_binning`
        family's pipeline generates at the nearest aspect-ratio bin and resizes and centre-crops the decoded images
        back to the requested `height` x `width` (`image_processor.resize_and_crop_tensor`, before post-processing):
        given that size, so does this. Other formats, and calls without `height`/`width`, return `decoded`.
        """
        if not self.resolution_binning or height is None:
            return decoded
        return self.processor(pipe).resize_and_crop_tensor(decoded, width, height)

    # processor ----------------------------------------------------------------------------------------------------

    def processor(self, pipe):
        return pipe.image_processor

    def check_input(self, pipe, image, height: int | None, width: int | None):
        """`encode_latents`' input, checked (and converted where `docs/reliability.md` says so)."""
        return checked_image(image, pipe.vae, self.processor(pipe), height, width)

    def preprocess(
        self, pipe, image, height: int | None, width: int | None, device: torch.device, num_frames: int | None = None
    ) -> torch.Tensor:
        """Checked input -> pixels for `vae_input`; `num_frames`: for video formats (image formats ignore it)."""
        return _image_io.preprocess(self.processor(pipe), image, height, width, device)

    def check_pixels(self, pipe, pixels: torch.Tensor) -> None:
        """The preprocessed batch, just before the VAE."""
        _validation.check_pixels(pixels, pipe.vae)

    def postprocess(self, pipe, decoded: torch.Tensor, output_type: str):
        return _image_io.postprocess(self.processor(pipe), decoded, output_type)

    # description --------------------------------------------------------------------------------------------------

    @property
    def packs(self) -> bool:
        return self.layout.packs

    def describe(self) -> str:
        """One line: the family, its formula, where its numbers live and its layout."""
        frames = "; VAE fed one frame (5-D)" if self.frame_axis else ""
        return f"{self.name}: {self.formula} ({self.statistics.description}); layout {self.layout.description}{frames}"
