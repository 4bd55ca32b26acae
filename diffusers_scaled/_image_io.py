"""Pre- and post-processing with only uint8 crossing the host/device boundary.

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
