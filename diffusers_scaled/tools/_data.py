"""Image sources for the tools: a folder, an image file, or any iterable / `torch.utils.data.Dataset` of images.

Items are kept as given (a path is opened only when its batch is encoded), so a process skips the items of other
processes and a resumed cache skips finished shards without reading their images.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def list_images(folder: str | os.PathLike) -> list[str]:
    """Image files under `folder` (recursively), sorted by their relative path so every process sees one order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.join(root, name))
    return sorted(found, key=lambda p: os.path.relpath(p, folder))


def as_items(images) -> Iterable:
    """The items of an image source. Paths to folders are listed; a single image path is a one-item source."""
    if isinstance(images, (str, os.PathLike)):
        path = os.fspath(images)
        if os.path.isdir(path):
            files = list_images(path)
            if not files:
                raise ValueError(
                    f"`images` is the folder `{path}`, which holds no image files ({', '.join(IMAGE_EXTENSIONS)})."
                )
            return files
        if os.path.isfile(path):
            return [path]
        raise FileNotFoundError(f"`images` must be an image folder or file; `{path}` does not exist.")
    if isinstance(images, (PIL.Image.Image, np.ndarray, torch.Tensor)):
        raise TypeError(
            "`images` must be a folder, a file, or an iterable of images; got a single "
            f"{type(images).__name__}. Wrap it in a list."
        )
    if not isinstance(images, Iterable) and not hasattr(images, "__getitem__"):
        raise TypeError(f"`images` must be a folder, a file, or an iterable of images; got {type(images).__name__}.")
    return images


def num_items(items) -> int | None:
    try:
        return len(items)
    except TypeError:
        return None


class _Indexed:
    """Item `index` of a map-style dataset, fetched only when its batch is encoded (by the process that owns it)."""

    __slots__ = ("dataset", "index")

    def __init__(self, dataset, index: int):
        self.dataset, self.index = dataset, index

    def get(self):
        return self.dataset[self.index]


def iterate(items) -> Iterator:
    if isinstance(items, torch.utils.data.Dataset) and hasattr(items, "__len__"):
        return (_Indexed(items, i) for i in range(len(items)))
    return iter(items)


def chunks(items, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    iterator = iterate(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


def source_name(item, index: int) -> str:
    """What the cache records as an item's source: its path, or its index in the source."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        return item["path"]
    return f"#{index}"


def read_image(item) -> PIL.Image.Image:
    """An item as an RGB PIL image. Accepts paths, PIL images, arrays/tensors in [0, 1] ((H, W, C) or (C, H, W)),
    dicts with an `"image"` key (Hugging Face `datasets`) and `(image, label)` tuples (torchvision datasets)."""
    if isinstance(item, _Indexed):
        item = item.get()
    if isinstance(item, dict):
        if "image" not in item:
            raise TypeError(f"A dict item must have an `image` key; got keys {sorted(item)}.")
        item = item["image"]
    elif isinstance(item, tuple) and item:
        item = item[0]
    if isinstance(item, (str, os.PathLike)):
        with PIL.Image.open(item) as image:
            image = PIL.ImageOps.exif_transpose(image)
            return image.convert("RGB")
    if isinstance(item, PIL.Image.Image):
        return item.convert("RGB")
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu()
        if item.ndim == 3 and item.shape[0] in (1, 3, 4) and item.shape[-1] not in (1, 3, 4):
            item = item.permute(1, 2, 0)
        item = item.numpy()
    if isinstance(item, np.ndarray):
        array = item
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
            raise ValueError(f"An image array must have shape (H, W), (H, W, C) or (C, H, W); got {item.shape}.")
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)
        array = np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array[..., :3]
        return PIL.Image.fromarray(np.ascontiguousarray(array))
    raise TypeError(
        f"Cannot read an image from a {type(item).__name__}; expected a path, a PIL image, an array or tensor, a dict "
        "with an `image` key or an `(image, label)` tuple."
    )


def fit(image: PIL.Image.Image, resolution: int | None) -> PIL.Image.Image:
    """The image resized (shorter side) and centre-cropped to `resolution` x `resolution`; unchanged for `None`."""
    if resolution is None:
        return image
    return PIL.ImageOps.fit(image, (resolution, resolution), method=PIL.Image.BICUBIC, centering=(0.5, 0.5))
