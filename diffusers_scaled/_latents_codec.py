"""`LatentsCodecMixin`: `encode_latents` / `decode_latents` on an object with a `vae` and an `image_processor`.

The one capability of this mixin is the conversion images <-> denoiser latents, with the pipeline's own pre- and
post-processing and the VAE config's scaling. It conducts: checks (`_validation`), pre/post-processing (`_image_io`),
the VAE calls (`_vae`) and the scaling (`scaling`) are leaf modules that never call back. Pipelines get it through
`ScaledLatentsMixin`; `VaeCodec` uses it on a bare VAE.
"""

from __future__ import annotations

import torch
from diffusers.image_processor import PipelineImageInput
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

from . import _image_io, _vae, _validation, checks
from .scaling import LatentScaling


class LatentsCodecMixin:
    r"""
    `encode_latents` (images -> denoiser latents) and `decode_latents` (denoiser latents -> images) for a class with a
    `vae` and an `image_processor` attribute. See [`ScaledLatentsMixin`], which pipelines use.

    Class attributes:
        honour_force_upcast (`bool`):
            Whether a float16 VAE whose config sets `force_upcast` computes in float32, as the SDXL pipelines do.
            When a subclass leaves it unset it follows the stock pipeline it extends: `True` where that pipeline
            defines `upcast_vae` (the SDXL family), `False` otherwise (SD 1.x/2.x decode in the VAE's own dtype).
    """

    honour_force_upcast: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "honour_force_upcast" not in cls.__dict__:
            cls.honour_force_upcast = any(
                "upcast_vae" in vars(base) for base in cls.__mro__ if not issubclass(base, LatentsCodecMixin)
            )

    def _compiled(self, vae):
        """The compiled wrapper to run instead of `vae`, or `None` for eager calls (see `VaeCompileMixin`)."""
        return None

    @property
    def latent_scaling(self) -> LatentScaling:
        """The scaling between this pipeline's raw VAE latents and its denoiser latents, read from `vae.config`."""
        return LatentScaling.from_config(self.vae.config)

    def encode_latents(
        self,
        image: PipelineImageInput,
        generator: torch.Generator | list[torch.Generator] | None = None,
        sample_mode: str = "sample",
        height: int | None = None,
        width: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        r"""
        Encodes images into scaled latents, ready for the denoiser.

        The image is preprocessed with the pipeline's `image_processor` (resized to a multiple of the VAE's scale
        factor, normalized to [-1, 1]), encoded with the VAE, sampled (or its mode taken) and scaled as the img2img
        pipelines do before adding noise.

        Gradients flow when autograd is enabled; wrap the call in `torch.no_grad()` when you do not need them.

        Args:
            image (`PIL.Image.Image`, `np.ndarray`, `torch.Tensor`, or a list of them):
                The images, in any form `VaeImageProcessor.preprocess` accepts: PIL images, numpy arrays in [0, 1]
                (`(H, W, C)` or `(B, H, W, C)`), torch tensors in [0, 1] or [-1, 1] (`(C, H, W)` or `(B, C, H, W)`).
                Grayscale, palette and opaque RGBA PIL images are converted to RGB; transparent and 16-bit ones, integer
                arrays, NaN and values far outside that range raise (see `docs/reliability.md`).
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                Generator for the posterior sample. A list holds one generator per image, and each image is then encoded
                on its own, as the img2img pipelines do.
            sample_mode (`str`, *optional*, defaults to `"sample"`):
                `"sample"` draws from the VAE's posterior, `"argmax"` takes its mode (deterministic). VAEs without a
                posterior (`AutoencoderTiny`) ignore it.
            height (`int`, *optional*):
                Height to resize to; by default the image's own, rounded down to a multiple of the VAE's scale factor.
            width (`int`, *optional*):
                Width to resize to; by default the image's own, rounded down to a multiple of the VAE's scale factor.
            dtype (`torch.dtype`, *optional*):
                Dtype of the returned latents; defaults to the VAE's dtype. The VAE itself computes in its own dtype,
                or in float32 when it is float16 and upcast (see `honour_force_upcast`).

        Returns:
            `torch.Tensor`: latents of shape `(batch, latent_channels, height // f, width // f)` on the pipeline's
            execution device, where `f` is `vae_scale_factor`.

        Examples:

        ```py
        >>> import torch
        >>> from PIL import Image
        >>> from diffusers_scaled import ScaledStableDiffusionImg2ImgPipeline

        >>> pipe = ScaledStableDiffusionImg2ImgPipeline.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")
        >>> image = Image.open("photo.png").convert("RGB")
        >>> with torch.no_grad():
        ...     latents = pipe.encode_latents(image, generator=torch.Generator().manual_seed(0))
        ```
        """
        checks.check_sample_mode(sample_mode)
        _validation.check_image(image, self.vae, self.image_processor, height, width)
        image = _image_io.convert_to_rgb(image, self.vae, self.image_processor, height, width)
        device, vae_dtype = _vae.placement(self.vae)
        pixels = _image_io.preprocess(self.image_processor, image, height, width, device)
        _validation.check_pixels(pixels, self.vae)
        checks.check_generator(generator, pixels.shape[0])

        dtype = dtype or vae_dtype
        vae = _vae.compute_vae(self.vae, self.honour_force_upcast, vae_dtype)
        # The img2img pipelines' order: pixels to the working dtype, then up to the upcast VAE's dtype if it differs;
        # raw latents back to the working dtype, then scaled in it.
        pixels = pixels.to(dtype).to(vae_dtype if vae is self.vae else vae.dtype)
        latents = _vae.encode_finite(self.vae, vae, pixels, generator, sample_mode, self._compiled(vae)).to(dtype)
        return self.latent_scaling.scale(latents)

    def decode_latents(
        self,
        latents: torch.Tensor,
        output_type: str = "np",
        generator: torch.Generator | None = None,
        return_dict: bool = False,
    ):
        r"""
        Decodes scaled latents (for example `pipe(..., output_type="latent").images`) into images.

        The latents are unscaled as the pipeline does before decoding, decoded with the VAE and post-processed with the
        pipeline's `image_processor`. Unlike the deprecated diffusers `decode_latents`, this method is not deprecated,
        applies the VAE config's full scaling (shift and per-channel statistics included) and works with or without
        `torch.no_grad()`. It does not run a safety checker or watermarker: call them yourself if your pipeline has
        them.

        Latents are moved to the VAE's execution device and cast to the dtype the VAE computes in.

        Args:
            latents (`torch.Tensor`):
                Scaled latents of shape `(batch, latent_channels, height, width)`.
            output_type (`str`, *optional*, defaults to `"np"`):
                `"np"` returns a float32 `np.ndarray` of shape `(batch, H, W, 3)` in [0, 1], the same as the deprecated
                diffusers `decode_latents`; `"pil"` a list of `PIL.Image.Image`; `"pt"` a `torch.Tensor` of shape
                `(batch, 3, H, W)` in [0, 1] that keeps gradients when autograd is enabled.
            generator (`torch.Generator`, *optional*):
                Passed to VAEs whose decoder samples (`ConsistencyDecoderVAE`); others ignore it.
            return_dict (`bool`, *optional*, defaults to `False`):
                Whether to return an [`~pipelines.ImagePipelineOutput`] instead of the images alone.

        Returns:
            The images in the form `output_type` names, or an [`~pipelines.ImagePipelineOutput`] holding them when
            `return_dict` is `True`.

        Examples:

        ```py
        >>> import torch
        >>> from diffusers_scaled import ScaledStableDiffusionPipeline

        >>> pipe = ScaledStableDiffusionPipeline.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")
        >>> latents = pipe("an astronaut riding a horse", output_type="latent").images
        >>> image = pipe.decode_latents(latents, output_type="pil")[0]
        ```
        """
        checks.check_output_type(output_type)
        _validation.check_latents(latents, self.vae)
        confirm_finite = _validation.start_finite_check("latents", latents, host_copy_follows=output_type != "pt")

        # A numpy array or PIL image cannot carry gradients: build no autograd graph for them (the deprecated method
        # raised "Can't call numpy() on Tensor that requires grad" here).
        with torch.set_grad_enabled(torch.is_grad_enabled() and output_type == "pt"):
            device, vae_dtype = _vae.placement(self.vae)
            vae = _vae.compute_vae(self.vae, self.honour_force_upcast, vae_dtype)
            latents = latents.to(device=device, dtype=vae_dtype if vae is self.vae else vae.dtype)
            image = _vae.decode_finite(
                self.vae, vae, self.latent_scaling.unscale(latents), generator, self._compiled(vae)
            )
            image = _image_io.postprocess(self.image_processor, image, output_type)
        confirm_finite()  # NaN/inf in accelerator latents, read once the images are on the host (no extra sync)

        if not return_dict:
            return image
        return ImagePipelineOutput(images=image)
