"""Argument checks shared by `encode_latents` and `decode_latents`.

Each check raises at the call with a message that names the argument, what was expected and what was given, instead
of letting a wrong tensor fail deep inside a convolution or come out as a grey image. `docs/reliability.md` lists every
bad input and the error it gets; `tests/test_validation.py` enforces that table.

The checks cost little next to a VAE call: shapes, dtypes and PIL modes are metadata. Values are read only where they
can be without stalling an accelerator: CPU tensors and numpy arrays are always checked for NaN, inf and range; image
tensors on an accelerator are reduced once (`torch.aminmax`, one host sync, where `VaeImageProcessor.preprocess`
synchronizes anyway with `image.min()`); latents on an accelerator are checked only when the result is copied to the
host anyway (`output_type` "np" or "pil"), by a flag computed before decoding and read after the copy, so the latent
and `output_type="pt"` paths gain no synchronization.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import PIL.Image
import torch

from ._vae import SAMPLE_MODES


OUTPUT_TYPES = ("pil", "np", "pt")

# PIL modes converted to RGB with `Image.convert("RGB")`, the conversion `VaeImageProcessor(do_convert_rgb=True)`
# applies; nothing of the picture is lost or invented (grayscale is replicated, a palette looked up).
PIL_MODES_CONVERTED = ("L", "1", "P", "CMYK", "YCbCr", "RGBX")
# PIL modes with an alpha channel: converted when every pixel is opaque (dropping alpha loses nothing), refused when
# some are transparent (what lies under a transparent pixel is arbitrary, often black).
PIL_MODES_WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa")
# 16-bit and 32-bit PIL modes: their white level is not known (12-bit sensor data is often stored as "I;16"), and
# `VaeImageProcessor` divides them by 255 as if they were 8-bit, so they are refused with the conversion to write.
PIL_MODES_HIGH_BIT_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

# Float pixels are expected in [0, 1] (or [-1, 1], which `VaeImageProcessor` still accepts with a FutureWarning).
# Resampling overshoots a little; values further than this outside [-1, 1] are a unit mistake (0-255 floats).
IMAGE_RANGE_SLACK = 0.5


def _shape(value) -> tuple:
    return tuple(value.shape)


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")


def check_output_type(output_type) -> None:
    check_choice("output_type", output_type, OUTPUT_TYPES)


def check_sample_mode(sample_mode) -> None:
    check_choice("sample_mode", sample_mode, SAMPLE_MODES)


def check_generator(generator, batch_size: int) -> None:
    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(
                f"`generator` is a list of {len(generator)} generators, but the batch has {batch_size} images; pass one "
                "generator per image or a single generator."
            )
        bad = [type(g).__name__ for g in generator if not isinstance(g, torch.Generator)]
        if bad:
            raise TypeError(
                f"`generator` must hold `torch.Generator` objects only; got {', '.join(sorted(set(bad)))}."
            )
        return
    raise TypeError(
        f"`generator` must be a `torch.Generator`, a list of them (one per image) or None; got {type(generator).__name__}."
    )


def _latent_channels(vae) -> int | None:
    return getattr(vae.config, "latent_channels", None)


def _image_channels(vae) -> int:
    return getattr(vae.config, "in_channels", None) or 3


# decode_latents -----------------------------------------------------------------------------------------------------


def check_latents(
    latents, vae, output_type: str = "pt", ndim: int = 4, channels: int | None = None
) -> Callable[[], None]:
    """
    `decode_latents`' input: a non-empty floating-point tensor of shape (batch, latent_channels, height, width) with
    finite values; (batch, latent_channels, frames, height, width) with `ndim=5`, for video VAEs. `channels`: the
    expected channel count (the latent format's unpacked form); by default the VAE config's `latent_channels`.

    Returns a callable to run once the decoded images are on the host: it raises if the latents held NaN or inf and
    that could not be checked without a device sync (accelerator tensors); it does nothing otherwise.
    """
    if not isinstance(latents, torch.Tensor):
        hint = " Join a list of latents into one batch with `torch.cat`." if isinstance(latents, (list, tuple)) else ""
        raise TypeError(f"`latents` must be a torch.Tensor; got {type(latents).__name__}.{hint}")
    layout = "(batch, channels, height, width)" if ndim == 4 else "(batch, channels, frames, height, width)"
    if latents.ndim != ndim:
        hint = ""
        if latents.ndim == 3 and ndim == 4:
            hint = (
                " A single latent needs a batch dimension (`latents[None]`); 3-dimensional latents packed into patches "
                "(Flux) are decoded by the packed pipelines' `decode_latents(latents, height=..., width=...)`."
            )
        raise ValueError(f"`latents` must have {ndim} dimensions {layout}; got shape {_shape(latents)}.{hint}")
    if latents.shape[0] == 0:
        raise ValueError(f"`latents` is an empty batch (shape {_shape(latents)}); pass at least one latent.")
    if 0 in _shape(latents)[2:]:
        raise ValueError(f"`latents` must have a non-zero height and width; got shape {_shape(latents)}.")
    if not latents.is_floating_point():
        raise TypeError(
            f"`latents` must be a floating-point tensor; got dtype {latents.dtype}. Latents are never integers: "
            "did you pass image pixels?"
        )
    channels = _latent_channels(vae) if channels is None else channels
    if channels is not None and latents.shape[1] != channels:
        hint = ""
        if latents.shape[1] in (1, 3) and channels not in (1, 3):
            hint = " This looks like an image: to turn images into latents, call `encode_latents`."
        raise ValueError(
            f"`latents` must have {channels} channels (the VAE's `latent_channels`) on dimension 1; got shape "
            f"{_shape(latents)}.{hint}"
        )
    return check_finite("latents", latents, host_copy_follows=output_type != "pt")


def _not_finite_error(name: str, tensor) -> ValueError:
    if isinstance(tensor, np.ndarray):
        nan, inf = int(np.isnan(tensor).sum()), int(np.isinf(tensor).sum())
    else:
        nan, inf = int(torch.isnan(tensor).sum()), int(torch.isinf(tensor).sum())
    hint = " A float16 overflow or a diverged sampler upstream usually causes this." if name == "latents" else ""
    return ValueError(
        f"`{name}` must hold finite values only; got {nan} NaN and {inf} infinite values in a {_kind(tensor)} of "
        f"shape {_shape(tensor)}.{hint}"
    )


def check_finite(name: str, tensor: torch.Tensor, host_copy_follows: bool) -> Callable[[], None]:
    """
    Raises `ValueError` if `tensor` holds NaN or inf, now when that costs no device sync (CPU tensors), else returns a
    callable that raises later: when `host_copy_follows`, a flag is computed on the device now (queued, no sync) and
    read by the callable after the caller's own copy to the host; otherwise the values are not checked.
    """
    if tensor.device.type == "cpu":
        if not bool(torch.isfinite(tensor).all()):
            raise _not_finite_error(name, tensor)
        return _nothing
    if not host_copy_follows:
        return _nothing
    return deferred_finite_check(name, tensor)


def deferred_finite_check(name: str, tensor: torch.Tensor) -> Callable[[], None]:
    """Queues `isfinite(tensor).all()` on the tensor's device now and returns a callable that reads it (and raises)."""
    finite = torch.isfinite(tensor).all()

    def confirm() -> None:
        if not bool(finite):
            raise _not_finite_error(name, tensor)

    return confirm


def _nothing() -> None:
    return None


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
            f"shape {_shape(latents)}."
        )
    if _shape(latents) != expected:
        raise ValueError(
            f"`latents` of shape {_shape(latents)} do not fit height={height}, width={width}: {layout} for an image "
            f"of height {height} and width {width} must have shape (batch, {', '.join(map(str, expected[1:]))}), here {expected}. "
            "Pass the `height` and `width` given to the pipeline call."
        )


# encode_latents -----------------------------------------------------------------------------------------------------


def _kind(item) -> str:
    if isinstance(item, PIL.Image.Image):
        return "PIL.Image.Image"
    if isinstance(item, np.ndarray):
        return "np.ndarray"
    if isinstance(item, torch.Tensor):
        return "torch.Tensor"
    return type(item).__name__


def check_image(image, vae, image_processor, height: int | None = None, width: int | None = None):
    """
    `encode_latents`' input: pixels in a form `VaeImageProcessor.preprocess` reads correctly.

    Returns the image, with PIL images converted to RGB where `docs/reliability.md` says so (the processor would
    otherwise hand the VAE 1, 2 or 4 channels, or palette indices as if they were grey levels).
    """
    if isinstance(image, tuple):
        raise TypeError(f"`image` must be an image or a list of images; got a tuple of {len(image)}: pass a list.")
    items = image if isinstance(image, list) else [image]
    if len(items) == 0:
        raise ValueError("`image` is an empty list; pass at least one image.")
    kinds = {_kind(item) for item in items}
    unknown = kinds - {"PIL.Image.Image", "np.ndarray", "torch.Tensor"}
    if unknown:
        raise TypeError(
            "`image` must be a PIL.Image.Image, an np.ndarray, a torch.Tensor or a list of one of them; got "
            f"{', '.join(sorted(unknown))}."
        )
    if len(kinds) > 1:
        raise TypeError(f"`image` must be a list of one kind of image; got a mix of {', '.join(sorted(kinds))}.")

    if isinstance(items[0], PIL.Image.Image):
        _check_size_arguments(items[0], image_processor, height, width)
        convert = [_needs_rgb_conversion(item, vae, image_processor) for item in items]
        sizes = [item.size for item in items]
        if len(set(sizes)) > 1 and (height is None or width is None):
            raise ValueError(
                f"`image` holds PIL images of different sizes ({', '.join(f'{w}x{h}' for w, h in sizes)}, width x "
                "height); pass `height` and `width` to resize them all to one size (`VaeImageProcessor` would "
                "silently resize every image to the first one's size)."
            )
        if any(0 in size for size in sizes):
            raise ValueError(f"`image` must have a non-zero width and height; got a PIL image of size {sizes}.")
        if any(convert):
            items = _resize_and_convert(items, convert, image_processor, height, width)
        return items if isinstance(image, list) else items[0]

    _check_arrays(items, vae)  # the layout first: a transposed array's "height" is its channel count
    _check_size_arguments(items[0], image_processor, height, width)
    return image


def _check_size_arguments(first, image_processor, height, width) -> None:
    factor = getattr(image_processor.config, "vae_scale_factor", 1) or 1
    for name, value in (("height", height), ("width", width)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < factor:
            raise ValueError(
                f"`{name}` must be an int of at least {factor} (the VAE's scale factor) or None; got {value!r}."
            )
    if isinstance(first, PIL.Image.Image):
        own_height, own_width = first.height, first.width
    else:
        own_height, own_width = first.shape[-3:-1] if isinstance(first, np.ndarray) else first.shape[-2:]
    for name, value, own in (("height", height, own_height), ("width", width, own_width)):
        if value is None and 0 < own < factor:
            raise ValueError(
                f"`image` is {own} pixels in {name}, less than the VAE's scale factor {factor}: it would be rounded "
                f"down to nothing. Pass a larger image or `{name}`."
            )


def _needs_rgb_conversion(image: PIL.Image.Image, vae, image_processor) -> bool:
    """Whether the PIL image is converted to RGB (True), passed as it is (False), or refused (raises)."""
    config = image_processor.config
    if getattr(config, "do_convert_rgb", False) or getattr(config, "do_convert_grayscale", False):
        return False  # the processor's own conversion, as the pipeline configured it
    if _image_channels(vae) != 3 or image.mode == "RGB":
        return False
    mode = image.mode
    if mode in PIL_MODES_CONVERTED and not (mode == "P" and "transparency" in image.info):
        return True
    if mode in PIL_MODES_WITH_ALPHA or mode == "P":
        alpha_min = image.convert("RGBA").getchannel("A").getextrema()[0]
        if alpha_min == 255:
            return True
        raise ValueError(
            f"`image` is a PIL image of mode {mode!r} with transparent pixels (alpha down to {alpha_min}); the VAE "
            "takes RGB, and what lies under transparent pixels is arbitrary. Composite it onto a background first, "
            "e.g. `PIL.Image.alpha_composite(PIL.Image.new('RGBA', image.size, 'white'), image.convert('RGBA'))"
            ".convert('RGB')`."
        )
    if mode in PIL_MODES_HIGH_BIT_DEPTH:
        raise ValueError(
            f"`image` is a PIL image of mode {mode!r} (16/32-bit): its white level is ambiguous, and "
            "`VaeImageProcessor` would divide it by 255 as if it were 8-bit. Convert it to a float array in [0, 1] "
            "yourself, e.g. `np.asarray(image, dtype=np.float32)[..., None].repeat(3, -1) / 65535` for 16-bit data."
        )
    raise ValueError(
        f"`image` is a PIL image of mode {mode!r}; expected mode 'RGB' or one converted to it "
        f"({', '.join(repr(m) for m in PIL_MODES_CONVERTED + PIL_MODES_WITH_ALPHA)}). Convert it with "
        "`image.convert('RGB')` if that conversion suits your data."
    )


def _resize_and_convert(items: list, convert: list, image_processor, height, width) -> list:
    """`VaeImageProcessor(do_convert_rgb=True)`'s order: resize (to the first image's size by default), then
    `convert("RGB")`. The processor's own resize of the converted images is then a no-op (PIL copies an image resized
    to its own size), so the result is bitwise what a converting processor gives."""
    if image_processor.config.do_resize:
        height, width = image_processor.get_default_height_width(items[0], height, width)
        items = [image_processor.resize(item, height, width) if c else item for item, c in zip(items, convert)]
    return [item.convert("RGB") if c else item for item, c in zip(items, convert)]


def _check_arrays(items: list, vae) -> None:
    first = items[0]
    is_numpy = isinstance(first, np.ndarray)
    layout = "(H, W, C) or (B, H, W, C), channels last" if is_numpy else "(C, H, W) or (B, C, H, W), channels first"
    for item in items:
        if item.ndim not in (3, 4) or (len(items) > 1 and item.ndim != first.ndim):
            raise ValueError(
                f"`image` {_kind(item)}s must have shape {layout}{' (a list of them all alike)' if len(items) > 1 else ''}"
                f"; got shape {_shape(item)}."
            )
    shapes = {_shape(item)[1:] if item.ndim == 4 else _shape(item) for item in items}
    if len(shapes) > 1:
        raise ValueError(
            f"`image` holds {_kind(first)}s of different shapes ({', '.join(str(_shape(i)) for i in items)}); they "
            "are stacked into one batch, so they must all have the same shape: resize them first."
        )
    _check_image_layout(first, is_numpy, layout, vae)
    for item in items:
        if 0 in _shape(item):
            raise ValueError(f"`image` must not be empty; got a {_kind(item)} of shape {_shape(item)}.")
        _check_image_dtype(item)
    for item, (low, high) in zip(items, _value_ranges(items)):
        _check_image_range(item, low, high)


def _check_image_dtype(item) -> None:
    if isinstance(item, np.ndarray):
        floating = np.issubdtype(item.dtype, np.floating)
    else:
        floating = item.is_floating_point()
    if not floating:
        fix = "`array.astype(np.float32) / 255`" if isinstance(item, np.ndarray) else "`image.float() / 255`"
        raise TypeError(
            f"`image` {_kind(item)}s must be floating point with values in [0, 1]; got dtype {item.dtype}. For 0-255 "
            f"pixel values use {fix} (or pass PIL images)."
        )


def _value_ranges(items: list) -> list[tuple[float, float]]:
    """(min, max) of each array or tensor. Tensors take one reduction each and, together, one host sync: NaN
    propagates into both ends and inf shows at one of them, so this also finds non-finite values."""
    if isinstance(items[0], np.ndarray):
        return [(float(np.min(item)), float(np.max(item))) for item in items]
    ranges = [torch.stack(torch.aminmax(item.detach())).float() for item in items]
    return [tuple(r) for r in torch.stack([r.to(ranges[0].device) for r in ranges]).tolist()]


def _check_image_layout(item, is_numpy: bool, layout: str, vae) -> None:
    channels = _image_channels(vae)
    channel_dim = -1 if is_numpy else item.ndim - 3
    if item.shape[channel_dim] == channels:
        return
    latent_channels = _latent_channels(vae)
    if not is_numpy and latent_channels not in (None, channels) and item.shape[channel_dim] == latent_channels:
        raise ValueError(
            f"`image` has {latent_channels} channels, the VAE's `latent_channels`: these look like latents, not pixels "
            f"(shape {_shape(item)}). To turn latents into images, call `decode_latents`."
        )
    other_dim = item.ndim - 3 if is_numpy else -1
    hint = ""
    if item.shape[other_dim] == channels:
        hint = (
            " It looks channels-first: numpy images are channels-last, use `np.moveaxis(image, -3, -1)`."
            if is_numpy
            else " It looks channels-last: torch images are channels-first, use `image.movedim(-1, -3)`."
        )
    elif item.shape[channel_dim] in (1, 4) and channels == 3:
        hint = " Grayscale or RGBA arrays are not converted: give 3 channels (or pass a PIL image)."
    raise ValueError(f"`image` must have {channels} channels, shape {layout}; got shape {_shape(item)}.{hint}")


def _check_image_range(item, low: float, high: float) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _not_finite_error("image", item)
    bound = 1 + IMAGE_RANGE_SLACK
    if low < -bound or high > bound:
        hint = " For 0-255 pixel values, divide by 255." if high > 2 else ""
        raise ValueError(
            f"`image` values must lie in [0, 1] (or [-1, 1]); got values in [{low:g}, {high:g}] (a {_kind(item)} of shape "
            f"{_shape(item)}).{hint}"
        )


def check_pixels(pixels: torch.Tensor, vae) -> None:
    """The preprocessed batch, just before the VAE: as many channels as the VAE takes (a processor subclass or config
    may produce another count than the input had)."""
    channels = _image_channels(vae)
    if pixels.ndim != 4 or pixels.shape[1] != channels or 0 in _shape(pixels):
        raise ValueError(
            f"`image` must give (batch, {channels}, height, width) pixels after the pipeline's `image_processor`; got "
            f"shape {_shape(pixels)}."
        )
