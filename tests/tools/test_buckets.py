"""Buckets, nearest-aspect assignment, resize and crop, each against an independent computation."""

import math
import random

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch

from diffusers_scaled.tools.buckets import (
    SDXL_BUCKETS_1024,
    apply_placement,
    generate_buckets,
    nearest_bucket,
    place,
    sdxl_buckets,
)


def test_sdxl_list_is_the_reports():
    buckets = sdxl_buckets()
    assert buckets == list(SDXL_BUCKETS_1024) and len(buckets) == 40
    # every size a multiple of 64 with 90-100% of 1024^2 pixels, aspect 1/4 ... 4
    assert all(h % 64 == 0 and w % 64 == 0 and 0.9 <= h * w / 1024**2 <= 1 for h, w in buckets)
    assert min(h / w for h, w in buckets) == 0.25 and max(h / w for h, w in buckets) == 4


@pytest.mark.parametrize("resolution,step", [(512, 32), (768, 64), (64, 8)])
def test_sdxl_list_scaled(resolution, step):
    expected = []
    for h, w in SDXL_BUCKETS_1024:  # float arithmetic, rounded half up
        size = tuple(max(step, int(math.floor(side * resolution / 1024 / step + 0.5)) * step) for side in (h, w))
        if size not in expected:
            expected.append(size)
    assert sdxl_buckets(resolution, step) == expected


@pytest.mark.parametrize(
    "resolution,min_size,max_size,step", [(512, 256, 1024, 64), (1024, 512, 2048, 64), (64, 32, 128, 8)]
)
def test_generated_buckets_brute_force(resolution, min_size, max_size, step):
    area = resolution**2
    sides = range(step, 4 * max_size, step)
    expected = {(resolution // step * step,) * 2}
    for w in sides:
        if not min_size <= w <= max_size:
            continue
        # the tallest height that fits the area and max_size, by search rather than division
        fitting = [h for h in sides if h * w <= area and h <= max_size]
        if fitting and max(fitting) >= min_size:
            expected |= {(max(fitting), w), (w, max(fitting))}
    got = generate_buckets(resolution, min_size, max_size, step)
    assert set(got) == expected and len(got) == len(expected)
    assert [h / w for h, w in got] == sorted((h / w for h, w in got), reverse=True)


def test_nearest_bucket_against_logs():
    rng = random.Random(0)
    buckets = sdxl_buckets(512, 32)
    for _ in range(2000):
        size = (rng.randint(16, 4000), rng.randint(16, 4000))
        chosen = nearest_bucket(size, buckets)
        distances = [abs(math.log(size[1] / size[0]) - math.log(w / h)) for h, w in buckets]
        best = min(distances)
        assert abs(math.log(size[1] / size[0]) - math.log(chosen[1] / chosen[0])) <= best + 1e-12
        if sorted(distances)[1] - best > 1e-9:  # no near-tie: the choice is the unique best
            assert chosen == buckets[distances.index(best)]
    assert nearest_bucket((100, 100), [(64, 128), (96, 96), (128, 64)]) == (96, 96)


def _noise(size_hw, seed=0):
    array = np.random.default_rng(seed).integers(0, 256, size=(*size_hw, 3), dtype=np.uint8)
    return PIL.Image.fromarray(array)


def _find(needle: np.ndarray, haystack: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) where `needle` occurs in `haystack`, by exhaustive search."""
    h, w = needle.shape[:2]
    return [
        (top, left)
        for top in range(haystack.shape[0] - h + 1)
        for left in range(haystack.shape[1] - w + 1)
        if np.array_equal(haystack[top : top + h, left : left + w], needle)
    ]


@pytest.mark.parametrize(
    "size,bucket", [((30, 50), (16, 24)), ((50, 30), (24, 16)), ((21, 21), (16, 24)), ((9, 40), (16, 16))]
)
def test_center_crop(size, bucket):
    placement = place(size, bucket)
    scale = max(bucket[0] / size[0], bucket[1] / size[1])
    for side, got, want in zip(size, placement.resized_size, bucket):
        assert got >= want and abs(got - side * scale) <= 0.5 + 1e-9  # covers the bucket, aspect kept to rounding
    assert bucket[0] in placement.resized_size or bucket[1] in placement.resized_size
    assert placement.crop_top_left == tuple((r - b) // 2 for r, b in zip(placement.resized_size, bucket))
    assert placement.original_size == size and placement.target_size == bucket

    image = _noise(size)
    fitted = apply_placement(image, placement)
    assert (fitted.height, fitted.width) == bucket
    resized = np.asarray(image.resize(placement.resized_size[::-1], PIL.Image.BICUBIC))
    assert _find(np.asarray(fitted), resized) == [placement.crop_top_left]
    # the flipped crop is where the flipped image sits in the flipped resized image
    mirrored = np.asarray(PIL.ImageOps.mirror(fitted))
    assert _find(mirrored, resized[:, ::-1]) == [placement.flipped().crop_top_left]


def test_random_crop_draws_like_torchvision_and_covers_the_range():
    size, bucket = (40, 90), (16, 32)
    seen = set()
    for seed in range(200):
        placement = place(size, bucket, "random", torch.Generator().manual_seed(seed))
        # torchvision's RandomCrop.get_params: top then left, each torch.randint(0, room + 1)
        reference = torch.Generator().manual_seed(seed)
        room = [r - b for r, b in zip(placement.resized_size, bucket)]
        top = int(torch.randint(0, room[0] + 1, (1,), generator=reference))
        left = int(torch.randint(0, room[1] + 1, (1,), generator=reference))
        assert placement.crop_top_left == (top, left)
        seen.add(placement.crop_top_left)
    assert {left for _, left in seen} == set(range(room[1] + 1))  # every offset occurs


def test_bad_arguments():
    with pytest.raises(ValueError, match="`crop` must be one of"):
        place((10, 10), (8, 8), "middle")
    with pytest.raises(ValueError, match="`generator` is required"):
        place((10, 10), (8, 8), "random")
    with pytest.raises(ValueError, match="`min_size` <= `resolution` <= `max_size`"):
        generate_buckets(512, 600, 1024)
    with pytest.raises(ValueError, match="`step` must be a positive integer"):
        sdxl_buckets(1024, 0)
    with pytest.raises(ValueError, match="placement was made for"):
        apply_placement(_noise((10, 12)), place((12, 10), (8, 8)))
