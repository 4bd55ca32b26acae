"""Pre- and post-processing: PIL images converted to RGB, and only uint8 crossing the host/device boundary.

`convert_to_rgb` converts the PIL modes that `VaeImageProcessor(do_convert_rgb=True)` would, bitwise as it does; the
checks that refuse the other modes are in `_validation`.

`VaeImageProcessor` converts PIL images to float32 on the host and moves float32 to the device (and back for PIL
output): four bytes a channel each way, plus numpy arithmetic on the host. Here PIL pixels travel as uint8 and the float
arithmetic runs on the device, with the same operations in the same order and the same memory layout, so the results
are bitwise those of `VaeImageProcessor`. Anything this module does not handle exactly falls back to the processor.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch
from diffusers.image_processor import VaeImageProcessor


# PIL modes converted to RGB with `Image.convert("RGB")`, the conversion `VaeImageProcessor(do_convert_rgb=True)`
# applies; nothing of the picture is lost or invented (grayscale is replicated, a palette looked up).
PIL_MODES_CONVERTED = ("L", "1", "P", "CMYK", "YCbCr", "RGBX")
# PIL modes with an alpha channel: converted when every pixel is opaque (dropping alpha loses nothing), refused when
# some are transparent (what lies under a transparent pixel is arbitrary, often black).
PIL_MODES_WITH_ALPHA = ("RGBA", "LA", "PA", "RGBa")
# 16-bit and 32-bit PIL modes: their white level is not known (12-bit sensor data is often stored as "I;16"), and
# `VaeImageProcessor` divides them by 255 as if they were 8-bit, so they are refused with the conversion to write.
PIL_MODES_HIGH_BIT_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def image_channels(vae) -> int:
    """The number of channels the VAE takes (`in_channels`, 3 when its config does not say)."""
    return getattr(vae.config, "in_channels", None) or 3


def needs_rgb_conversion(image: PIL.Image.Image, vae, image_processor) -> bool:
    """Whether `convert_to_rgb` converts this PIL image: an RGB VAE, a processor that does not convert by itself, a
    mode other than RGB (`_validation.check_image` has refused the modes that cannot be converted losslessly)."""
    config = image_processor.config
    if getattr(config, "do_convert_rgb", False) or getattr(config, "do_convert_grayscale", False):
        return False  # the processor's own conversion, as the pipeline configured it
    return image_channels(vae) == 3 and image.mode != "RGB"


def convert_to_rgb(image, vae, image_processor, height: int | None, width: int | None):
    """`image` with its PIL images converted to RGB where `needs_rgb_conversion` says so (the processor would otherwise
    hand the VAE 1, 2 or 4 channels, or palette indices as if they were grey levels); other images unchanged."""
    items = image if isinstance(image, list) else [image]
    if not all(isinstance(item, PIL.Image.Image) for item in items):
        return image
    convert = [needs_rgb_conversion(item, vae, image_processor) for item in items]
    if not any(convert):
        return image
    items = _resize_and_convert(items, convert, image_processor, height, width)
    return items if isinstance(image, list) else items[0]


def _resize_and_convert(items: list, convert: list, image_processor, height, width) -> list:
    """`VaeImageProcessor(do_convert_rgb=True)`'s order: resize (to the first image's size by default), then
    `convert("RGB")`. The processor's own resize of the converted images is then a no-op (PIL copies an image resized
    to its own size), so the result is bitwise what a converting processor gives."""
    if image_processor.config.do_resize:
        height, width = image_processor.get_default_height_width(items[0], height, width)
        items = [image_processor.resize(item, height, width) if c else item for item, c in zip(items, convert)]
    return [item.convert("RGB") if c else item for item, c in zip(items, convert)]


def _is_plain_processor(image_processor) -> bool:
    # Subclasses and non-default configs (grayscale/RGB conversion, binarizing) take the processor's own path.
    config = image_processor.config
    return (
        type(image_processor) is VaeImageProcessor
        and not getattr(config, "do_convert_rgb", False)
        and not getattr(config, "do_convert_grayscale", False)
        and not getattr(config, "do_binarize", False)
    )


def _pil_list(image) -> list[PIL.Image.Image] | None:
    images = image if isinstance(image, list) else [image]
    if images and all(isinstance(i, PIL.Image.Image) and i.mode == "RGB" for i in images):
        return images
    return None


def preprocess(image_processor, image, height: int | None, width: int | None, device: torch.device) -> torch.Tensor:
    """`image_processor.preprocess(image, height, width)` placed on `device`."""
    images = _pil_list(image) if _is_plain_processor(image_processor) else None
    if images is None:
        return image_processor.preprocess(image, height=height, width=width).to(device)

    if image_processor.config.do_resize:
        height, width = image_processor.get_default_height_width(images[0], height, width)
        images = [image_processor.resize(i, height, width) for i in images]
    if len({i.size for i in images}) > 1:  # the processor's np.stack raises for mixed sizes: let it
        return image_processor.preprocess(images, height=height, width=width).to(device)
    pixels = torch.from_numpy(np.stack([np.asarray(i) for i in images])).to(device, non_blocking=True)
    # NHWC data seen as NCHW, the layout `VaeImageProcessor.numpy_to_pt` produces: convolutions choose their algorithm
    # by memory layout, so matching it keeps the encoder's result bitwise identical.
    pixels = pixels.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if image_processor.config.do_normalize:
        pixels = image_processor.normalize(pixels)
    return pixels


def postprocess(image_processor, image: torch.Tensor, output_type: str):
    """`image_processor.postprocess(image, output_type)`."""
    if output_type != "pil" or not _is_plain_processor(image_processor):
        return image_processor.postprocess(image, output_type=output_type)

    if image_processor.config.do_normalize:
        image = image_processor.denormalize(image)
    # `pt_to_numpy` then `numpy_to_pil`: float32, times 255, round half to even, uint8; on the device.
    pixels = (image.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if pixels.shape[-1] == 1:
        return [PIL.Image.fromarray(p[..., 0]) for p in pixels]
    return [PIL.Image.fromarray(p) for p in pixels]
