"""`LatentsCodecMixin`: `encode_latents` / `decode_latents` on an object with a `vae` and an `image_processor`.

The one capability of this mixin is the conversion images <-> denoiser latents, with the pipeline's own pre- and
post-processing and the VAE config's scaling. It conducts: checks (`_validation`), pre/post-processing (`_image_io`),
the VAE calls (`_vae`) and the scaling (`scaling`) are leaf modules that never call back. Pipelines get it through
`ScaledLatentsMixin`; `VaeCodec` uses it on a bare VAE.
"""

from __future__ import annotations

import functools
import sys

import torch
from diffusers.image_processor import PipelineImageInput
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput

from . import _vae, _validation, checks
from .formats import LatentFormat


def _called_by_diffusers() -> bool:
    """Whether the caller of `decode_latents` is diffusers' own code (a stock `__call__`), not the user's."""
    caller = sys._getframe(2)  # 0: this function, 1: the `decode_latents` wrapper, 2: its caller
    return caller.f_globals.get("__name__", "").partition(".")[0] == "diffusers"


def _stock_calls_keep_the_stock_method(method):
    # The stock `__call__` of some pipelines (StableDiffusionAdapterPipeline, the AnimateDiff, CogVideoX, SVD ones)
    # calls its own deprecated `self.decode_latents(...)`, each with its own signature. Those calls reach the stock
    # method with their arguments untouched, so generation stays exactly the stock pipeline's; every other caller gets
    # this package's method.
    @functools.wraps(method)
    def decode_latents(self, *args, **kwargs):
        if _called_by_diffusers():
            return super(LatentsCodecMixin, self).decode_latents(*args, **kwargs)
        return method(self, *args, **kwargs)

    return decode_latents


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
    latent_format: LatentFormat | None = None

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
    def latent_scaling(self):
        """The scaling between this pipeline's raw VAE latents and its denoiser latents, read from the VAE (config or
        buffers, as the pipeline's latent format says): a [`LatentScaling`] for the config-scaled families."""
        return self.latent_format.scaling(self.vae)

    def encode_latents(
        self,
        image: PipelineImageInput,
        generator: torch.Generator | list[torch.Generator] | None = None,
        sample_mode: str | None = None,
        height: int | None = None,
        width: int | None = None,
        dtype: torch.dtype | None = None,
        packed: bool = False,
        num_frames: int | None = None,
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
            sample_mode (`str`, *optional*):
                `"sample"` draws from the VAE's posterior, `"argmax"` takes its mode (deterministic). VAEs without a
                posterior (`AutoencoderTiny`) ignore it. Defaults to what the family's stock image-conditioned
                pipeline uses: `"sample"`, or `"argmax"` for Flux.2 and Qwen-Image edit (`latent_format.sample_mode`).
            height (`int`, *optional*):
                Height to resize to; by default the image's own, rounded down to a multiple of the VAE's scale factor.
            width (`int`, *optional*):
                Width to resize to; by default the image's own, rounded down to a multiple of the VAE's scale factor.
            dtype (`torch.dtype`, *optional*):
                Dtype of the returned latents; defaults to the VAE's dtype. The VAE itself computes in its own dtype,
                or in float32 when it is float16 and upcast (see `honour_force_upcast`).
            packed (`bool`, *optional*, defaults to `False`):
                For families whose denoiser works on packed latents (Flux.1, Flux.2, Qwen-Image): whether to return
                them packed, `(batch, tokens, channels)`, the form the transformer sees, instead of the unpacked form
                (see docs/latent-spaces.md for each family's forms). Other families raise a `ValueError` for `True`.

            num_frames (`int`, *optional*):
                Video image-to-video pipelines whose condition spans the whole clip (Wan 2.1 image-to-video): the
                `num_frames` of the generation. Other pipelines ignore it. Video pipelines take a video as `image`
                (a list of frames, or a batch of such lists), or the condition image for image-to-video ones (see
                docs/video.md).

        Returns:
            `torch.Tensor`: the latents on the pipeline's execution device; unpacked, `(batch, latent_channels,
            height // f, width // f)` for most families (`f` is `vae_scale_factor`), or the family's own forms.

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
        fmt = self.latent_format
        sample_mode = fmt.sample_mode if sample_mode is None else sample_mode
        checks.check_sample_mode(sample_mode)
        if not isinstance(packed, bool):
            raise TypeError(f"`packed` must be a bool, got {type(packed).__name__}.")
        if packed and not fmt.packs:
            raise ValueError(
                f"`packed=True` needs a pipeline whose denoiser works on packed latents; {type(self).__name__}'s "
                f"latents ({fmt.name}) are not packed."
            )
        pixels, vae_dtype, upcast, dtype = self._encoder_input(image, height, width, dtype, generator, num_frames)
        if fmt.encodes_one_by_one and not isinstance(generator, list):
            generator = [generator] * pixels.shape[0]  # one VAE call per image, as the stock pipeline encodes them
        compiled = self._compiled(self.vae)

        def encode(x, g):
            return _vae.encode_finite(self.vae, vae_dtype, upcast, x, g, sample_mode, compiled)

        latents = fmt.vae_encode(self, pixels, encode, generator).to(dtype)
        latents = fmt.scale(self, latents, self.latent_scaling)
        return fmt.pack(self, latents) if packed else latents

    def _encoder_input(self, image, height=None, width=None, dtype=None, generator=None, num_frames=None):
        """The checked, preprocessed pixels of `image` as the VAE takes them, the VAE's dtype, whether it is upcast to
        float32 and the working dtype: every step of `encode_latents` before `vae.encode`."""
        fmt = self.latent_format
        image = fmt.check_input(self, image, height, width)
        device, vae_dtype = _vae.placement(self.vae)
        pixels = fmt.preprocess(self, image, height, width, device, num_frames)
        fmt.check_pixels(self, pixels)
        checks.check_generator(generator, pixels.shape[0])

        dtype = dtype or vae_dtype
        upcast = _vae.needs_upcast(self.vae, self.honour_force_upcast, vae_dtype)
        # The img2img pipelines' order: pixels to the working dtype, then up to float32 if the VAE is upcast; raw
        # latents back to the working dtype, then scaled in it.
        return fmt.vae_input(pixels.to(dtype).to(torch.float32 if upcast else vae_dtype)), vae_dtype, upcast, dtype

    def _run_vae(self, vae_dtype, upcast, run):
        """`run()`, which calls `self.vae`, as `encode_latents` runs it: in float32 when `upcast` (see `_vae.run_vae`)."""
        return _vae.run_vae(self.vae, vae_dtype, upcast, run)

    @_stock_calls_keep_the_stock_method
    def decode_latents(
        self,
        latents: torch.Tensor,
        output_type: str = "np",
        generator: torch.Generator | None = None,
        return_dict: bool = False,
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        **decode_options,
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
                Scaled latents as the pipeline returns them with `output_type="latent"`: `(batch, latent_channels,
                height, width)` for most families; packed `(batch, tokens, channels)` (Flux.1, Flux.2, Qwen-Image,
                with `height` and `width`) or the family's unpacked form (see docs/latent-spaces.md).
            output_type (`str`, *optional*, defaults to `"np"`):
                `"np"` returns a float32 `np.ndarray` of shape `(batch, H, W, 3)` in [0, 1], the same as the deprecated
                diffusers `decode_latents`; `"pil"` a list of `PIL.Image.Image`; `"pt"` a `torch.Tensor` of shape
                `(batch, 3, H, W)` in [0, 1] that keeps gradients when autograd is enabled.
            generator (`torch.Generator`, *optional*):
                Passed to VAEs whose decoder samples (`ConsistencyDecoderVAE`); others ignore it.
            return_dict (`bool`, *optional*, defaults to `False`):
                Whether to return an [`~pipelines.ImagePipelineOutput`] instead of the images alone.
            height (`int`, *optional*):
                Height in pixels of the image packed latents stand for, the `height` given to the pipeline call.
                Required for packed latents. For PixArt and Sana, whose pipelines generate at an aspect-ratio bin near
                the requested size (`use_resolution_binning=True`, their default), the `height` given to the call: the
                decoded image is resized and cropped back to `height` x `width` as their `__call__` does (without
                `height` and `width` it keeps the bin's size). Unused otherwise.
            width (`int`, *optional*):
                Width in pixels, as `height`.
            num_frames (`int`, *optional*):
                Frames of the video packed video latents stand for; image pipelines ignore it.
            decode_options:
                Options of the family's decoder call, as the stock pipeline's `__call__` names them: for LTX-Video
                0.9.1+ (timestep-conditioned decoder) `decode_timestep` and `decode_noise_scale`, with the noise drawn
                from `generator`; for the video pipelines on the SD image VAE (AnimateDiff, Stable Video Diffusion, ...)
                `decode_chunk_size`, frames per VAE call, by default the stock call's (see docs/video.md). Other
                families take none and raise a `TypeError` for any.

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
        fmt = self.latent_format
        checks.check_output_type(output_type)
        fmt.check_requested_size(height, width)
        latents = fmt.unpack(self, latents, height, width, num_frames)
        _validation.check_latents(
            latents, self.vae, ndim=fmt.unpacked_ndim(self), channels=fmt.unpacked_channels(self)
        )
        confirm_finite = _validation.start_finite_check("latents", latents, host_copy_follows=output_type != "pt")

        # A numpy array or PIL image cannot carry gradients: build no autograd graph for them (the deprecated method
        # raised "Can't call numpy() on Tensor that requires grad" here).
        with torch.set_grad_enabled(torch.is_grad_enabled() and output_type == "pt"):
            device, vae_dtype = _vae.placement(self.vae)
            upcast = _vae.needs_upcast(self.vae, self.honour_force_upcast, vae_dtype)
            latents = latents.to(device=device, dtype=torch.float32 if upcast else vae_dtype)
            raw = fmt.unscale(self, latents, self.latent_scaling)
            compiled = self._compiled(self.vae)

            def decode(x, **decode_kwargs):
                return _vae.decode_finite(self.vae, vae_dtype, upcast, x, generator, compiled, **decode_kwargs)

            image = fmt.vae_decode(self, raw, decode, generator, **decode_options)
            image = fmt.to_requested_size(self, image, height, width)
            image = fmt.postprocess(self, image, output_type)
        confirm_finite()  # NaN/inf in accelerator latents, read once the images are on the host (no extra sync)

        if not return_dict:
            return image
        return ImagePipelineOutput(images=image)
