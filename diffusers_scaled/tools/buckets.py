"""Aspect-ratio buckets: the size each image is trained at, and how it was resized and cropped to it.

Every size here is `(height, width)` in pixels, the order of SDXL's micro-conditioning in diffusers
(`original_size`, `crops_coords_top_left`, `target_size`, concatenated into `add_time_ids`).

| function | what |
| --- | --- |
| `sdxl_buckets(resolution)` | SDXL's 40 training sizes (the SDXL report's list at 1024 x 1024), scaled to `resolution` |
| `generate_buckets(resolution, min_size, max_size, step)` | every `step`-multiple size up to `resolution`^2 pixels (kohya sd-scripts' rule) |
| `nearest_bucket(size, buckets)` | the bucket whose aspect ratio is nearest the image's (on a log scale) |
| `place(size, bucket, crop, generator)` | the resize (cover the bucket) and crop (centre or random) as a `Placement` |
| `apply_placement(image, placement)` | a PIL image resized and cropped as the `Placement` says |

An image is resized, keeping its aspect ratio, to the smallest size that covers the bucket (one side equal to the
bucket's, the other rounded half up and at least the bucket's), then cropped to the bucket: centred (offsets rounded
down) or at a random offset drawn from a seeded `torch.Generator`, as torchvision's `RandomCrop` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import PIL.Image
import torch


__all__ = [
    "SDXL_BUCKETS_1024",
    "Placement",
    "apply_placement",
    "generate_buckets",
    "nearest_bucket",
    "place",
    "sdxl_buckets",
]


#: SDXL's training sizes as `(height, width)` at 1024 x 1024 pixels (the SDXL report, appendix "multi-aspect training").
SDXL_BUCKETS_1024 = (
    (512, 2048), (512, 1984), (512, 1920), (512, 1856), (576, 1792), (576, 1728), (576, 1664), (640, 1600),
    (640, 1536), (704, 1472), (704, 1408), (704, 1344), (768, 1344), (768, 1280), (832, 1216), (832, 1152),
    (896, 1152), (896, 1088), (960, 1088), (960, 1024), (1024, 1024), (1024, 960), (1088, 960), (1088, 896),
    (1152, 896), (1152, 832), (1216, 832), (1280, 768), (1344, 768), (1408, 704), (1472, 704), (1536, 640),
    (1600, 640), (1664, 576), (1728, 576), (1792, 576), (1856, 512), (1920, 512), (1984, 512), (2048, 512),
)  # fmt: skip

CROPS = ("center", "random")

Size = tuple[int, int]


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def sdxl_buckets(resolution: int = 1024, step: int = 64) -> list[Size]:
    r"""
    SDXL's standard bucket list, scaled from 1024 x 1024 pixels to `resolution` x `resolution`.

    Args:
        resolution (`int`, *optional*, defaults to 1024): the side of the square of the same area.
        step (`int`, *optional*, defaults to 64): every side is rounded (half up) to a multiple of `step`, at least
            `step`; sizes that coincide after rounding are kept once.

    Returns:
        `list[tuple[int, int]]`: `(height, width)` pairs, tallest-aspect first as in the report.

    Examples:

    ```py
    >>> from diffusers_scaled.tools.buckets import sdxl_buckets

    >>> sdxl_buckets()[:2]
    [(512, 2048), (512, 1984)]
    ```
    """
    _check_positive("resolution", resolution)
    _check_positive("step", step)
    buckets = []
    for height, width in SDXL_BUCKETS_1024:
        size = tuple(max(step, _round_half_up(side * resolution, 1024 * step) * step) for side in (height, width))
        if size not in buckets:
            buckets.append(size)
    return buckets


def generate_buckets(
    resolution: int, min_size: int | None = None, max_size: int | None = None, step: int = 64
) -> list[Size]:
    r"""
    Buckets of about `resolution`^2 pixels, generated as kohya sd-scripts does (`make_bucket_resolutions`).

    The square `resolution` x `resolution` (rounded down to a multiple of `step`), and for every width `w` from
    `min_size` to `max_size` in steps of `step`, the largest height `h` (a multiple of `step`, at most `max_size`)
    with `w * h <= resolution^2`, if `h >= min_size`, together with its transpose.

    Args:
        resolution (`int`): the side of the square of the target area.
        min_size (`int`, *optional*): the shortest side; defaults to `resolution // 2` rounded down to `step`.
        max_size (`int`, *optional*): the longest side; defaults to `2 * resolution`.
        step (`int`, *optional*, defaults to 64): every side is a multiple of it (64 keeps SDXL latents a multiple
            of 8).

    Returns:
        `list[tuple[int, int]]`: `(height, width)` pairs, sorted by aspect ratio (tallest first).
    """
    _check_positive("resolution", resolution)
    _check_positive("step", step)
    min_size = max(step, resolution // 2 // step * step) if min_size is None else min_size
    max_size = 2 * resolution if max_size is None else max_size
    _check_positive("min_size", min_size)
    _check_positive("max_size", max_size)
    if not min_size <= resolution <= max_size:
        raise ValueError(
            f"`min_size` <= `resolution` <= `max_size` is required; got {min_size}, {resolution} and {max_size}."
        )
    area = resolution * resolution
    side = math.isqrt(area) // step * step
    buckets = {(side, side)}
    for width in range(min_size, max_size + 1, step):
        height = min(max_size, area // width // step * step)
        if height >= min_size:
            buckets.add((height, width))
            buckets.add((width, height))
    return sorted(buckets, key=lambda size: (-Fraction(size[0], size[1]), size[0]))


def check_buckets(buckets, multiple_of: int = 1) -> list[Size]:
    """`buckets` as a list of `(height, width)` integer pairs, each side a multiple of `multiple_of`; raises otherwise."""
    try:
        result = [(int(h), int(w)) for h, w in buckets]
        valid = bool(result) and all(
            h == hh and w == ww and h > 0 and w > 0 for (h, w), (hh, ww) in zip(result, buckets)
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            f"`buckets` must be a non-empty list of positive (height, width) integer pairs; got {buckets!r}."
        )
    odd = [size for size in result if size[0] % multiple_of or size[1] % multiple_of]
    if odd:
        raise ValueError(
            f"Every bucket side must be a multiple of the VAE's scale factor {multiple_of}; got {odd[:4]}."
        )
    return result


def nearest_bucket(size: Size, buckets: list[Size]) -> Size:
    r"""
    The bucket whose aspect ratio is nearest the image's, measured as `|log(w / h) - log(bw / bh)|` (so a landscape
    and the matching portrait image are treated alike); on a tie, the first in `buckets`.

    Args:
        size (`tuple[int, int]`): the image's `(height, width)`.
        buckets (`list[tuple[int, int]]`): `(height, width)` pairs.
    """
    height, width = size
    ratio = Fraction(width, height)

    def distance(bucket: Size) -> Fraction:  # exp(|log(a) - log(b)|) = max(a / b, b / a), compared exactly
        other = Fraction(bucket[1], bucket[0])
        return max(ratio / other, other / ratio)

    return min(buckets, key=distance)


@dataclass(frozen=True)
class Placement:
    r"""
    How an image was fitted to its bucket. All sizes `(height, width)`, offsets `(top, left)`, in pixels.

    Attributes:
        original_size: the image's size as read (after EXIF rotation).
        resized_size: the size it was resized to, covering `target_size`.
        crop_top_left: where the `target_size` crop starts in the resized image.
        target_size: the bucket: the size that was encoded.
    """

    original_size: Size
    resized_size: Size
    crop_top_left: Size
    target_size: Size

    def flipped(self) -> Placement:
        """The placement of the horizontally flipped crop: the same crop of the flipped resized image."""
        top, left = self.crop_top_left
        return Placement(
            self.original_size,
            self.resized_size,
            (top, self.resized_size[1] - self.target_size[1] - left),
            self.target_size,
        )

    def to_dict(self) -> dict:
        return {
            "original_size": list(self.original_size),
            "resized_size": list(self.resized_size),
            "crop_top_left": list(self.crop_top_left),
            "target_size": list(self.target_size),
        }


def place(size: Size, bucket: Size, crop: str = "center", generator: torch.Generator | None = None) -> Placement:
    r"""
    The resize and crop that fit an image of `size` to `bucket`.

    Args:
        size (`tuple[int, int]`): the image's `(height, width)`.
        bucket (`tuple[int, int]`): the target `(height, width)`.
        crop (`str`, *optional*, defaults to `"center"`): `"center"` (offsets rounded down) or `"random"`.
        generator (`torch.Generator`, *optional*): draws the random offsets (top, then left, each with
            `torch.randint` as torchvision's `RandomCrop.get_params`); required for `"random"`.
    """
    if crop not in CROPS:
        raise ValueError(f"`crop` must be one of {CROPS}; got {crop!r}.")
    height, width = size
    bucket_height, bucket_width = bucket
    if width * bucket_height >= height * bucket_width:  # the image is at least as wide as the bucket: fit its height
        resized = (bucket_height, max(bucket_width, _round_half_up(width * bucket_height, height)))
    else:
        resized = (max(bucket_height, _round_half_up(height * bucket_width, width)), bucket_width)
    if crop == "center":
        offset = ((resized[0] - bucket_height) // 2, (resized[1] - bucket_width) // 2)
    else:
        if generator is None:
            raise ValueError('`generator` is required for `crop="random"`.')
        top = int(torch.randint(0, resized[0] - bucket_height + 1, (1,), generator=generator))
        left = int(torch.randint(0, resized[1] - bucket_width + 1, (1,), generator=generator))
        offset = (top, left)
    return Placement((height, width), resized, offset, (bucket_height, bucket_width))


def apply_placement(image: PIL.Image.Image, placement: Placement) -> PIL.Image.Image:
    """`image` resized (bicubic) to `placement.resized_size` and cropped to `placement.target_size`."""
    if (image.height, image.width) != placement.original_size:
        raise ValueError(
            f"The image is {image.height}x{image.width} (height x width) but the placement was made for "
            f"{placement.original_size[0]}x{placement.original_size[1]}."
        )
    resized_height, resized_width = placement.resized_size
    if (resized_height, resized_width) != (image.height, image.width):
        image = image.resize((resized_width, resized_height), PIL.Image.BICUBIC)
    top, left = placement.crop_top_left
    height, width = placement.target_size
    if (top, left, height, width) != (0, 0, resized_height, resized_width):
        image = image.crop((left, top, left + width, top + height))
    return image
