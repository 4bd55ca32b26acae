"""Checks of the images and latents given to `encode_latents` and `decode_latents` (plain arguments: `checks`).

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
from collections.abc import Callable

import numpy as np
import PIL.Image
import torch

from . import _image_io
from ._image_io import PIL_MODES_CONVERTED, PIL_MODES_HIGH_BIT_DEPTH, PIL_MODES_WITH_ALPHA, image_channels


# Float pixels are expected in [0, 1] (or [-1, 1], which `VaeImageProcessor` still accepts with a FutureWarning).
# Resampling overshoots a little; values further than this outside [-1, 1] are a unit mistake (0-255 floats).
IMAGE_RANGE_SLACK = 0.5


def _shape(value) -> tuple:
    return tuple(value.shape)


def _latent_channels(vae) -> int | None:
    return getattr(vae.config, "latent_channels", None)


# decode_latents -----------------------------------------------------------------------------------------------------


def check_latents(latents, vae, ndim: int = 4, channels: int | None = None) -> None:
    """
    `decode_latents`' input: a non-empty floating-point tensor of shape (batch, latent_channels, height, width);
    (batch, latent_channels, frames, height, width) with `ndim=5`, for video VAEs. Its values are checked by
    `start_finite_check`. `channels`: the expected channel count (the latent format's unpacked form); by
    default the VAE config's `latent_channels`.
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


def start_finite_check(name: str, tensor: torch.Tensor, host_copy_follows: bool) -> Callable[[], None]:
    """
    The NaN/inf check of `tensor`, done now where that costs no device sync, else deferred to the caller's own host
    copy. A CPU tensor is checked now (`ValueError` if it holds NaN or inf). Otherwise, when `host_copy_follows`, a flag
    is computed on the device now (queued, no sync); the returned function reads it, and raises, once the caller has
    copied its result to the host. Call the returned function then; it does nothing when nothing was deferred.
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


# encode_latents -----------------------------------------------------------------------------------------------------


def _kind(item) -> str:
    if isinstance(item, PIL.Image.Image):
        return "PIL.Image.Image"
    if isinstance(item, np.ndarray):
        return "np.ndarray"
    if isinstance(item, torch.Tensor):
        return "torch.Tensor"
    return type(item).__name__


def check_image(image, vae, image_processor, height: int | None = None, width: int | None = None) -> None:
    """
    `encode_latents`' input: pixels in a form `VaeImageProcessor.preprocess` reads correctly, PIL images in a mode
    that `_image_io.convert_to_rgb` converts without loss (see `docs/reliability.md`).
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
        for item in items:
            _check_pil_mode(item, vae, image_processor)
        sizes = [item.size for item in items]
        if len(set(sizes)) > 1 and (height is None or width is None):
            raise ValueError(
                f"`image` holds PIL images of different sizes ({', '.join(f'{w}x{h}' for w, h in sizes)}, width x "
                "height); pass `height` and `width` to resize them all to one size (`VaeImageProcessor` would "
                "silently resize every image to the first one's size)."
            )
        if any(0 in size for size in sizes):
            raise ValueError(f"`image` must have a non-zero width and height; got a PIL image of size {sizes}.")
        return

    _check_arrays(items, vae)  # the layout first: a transposed array's "height" is its channel count
    _check_size_arguments(items[0], image_processor, height, width)


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


def _check_pil_mode(image: PIL.Image.Image, vae, image_processor) -> None:
    """A PIL image that is RGB, or that `_image_io.convert_to_rgb` converts to RGB losing nothing."""
    if not _image_io.needs_rgb_conversion(image, vae, image_processor):
        return
    mode = image.mode
    if mode in PIL_MODES_CONVERTED and not (mode == "P" and "transparency" in image.info):
        return
    if mode in PIL_MODES_WITH_ALPHA or mode == "P":
        alpha_min = image.convert("RGBA").getchannel("A").getextrema()[0]
        if alpha_min == 255:
            return
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
    channels = image_channels(vae)
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
    channels = image_channels(vae)
    if pixels.ndim != 4 or pixels.shape[1] != channels or 0 in _shape(pixels):
        raise ValueError(
            f"`image` must give (batch, {channels}, height, width) pixels after the pipeline's `image_processor`; got "
            f"shape {_shape(pixels)}."
        )
