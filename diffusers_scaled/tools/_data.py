"""Image sources for the tools: a folder, an image file, or any iterable / `torch.utils.data.Dataset` of images.

Items are kept as given (a path is opened only when its batch is encoded), so a process skips the items of other
processes and a resumed cache skips finished shards without reading their images.
"""

from __future__ import annotations

import hashlib
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


def as_items(images, image_column: str = "image") -> Iterable:
    """The items of an image source. Paths to folders are listed; a single image path is a one-item source; a
    Hugging Face dataset gives dicts with its `image_column` as `"image"`."""
    if type(images).__module__.startswith("datasets."):
        columns = getattr(images, "column_names", None)
        if columns is not None and image_column not in columns:
            raise ValueError(f"`image_column` must be a column of the dataset {columns}; got {image_column!r}.")
        if image_column != "image":
            images = images.select_columns([image_column]).rename_column(image_column, "image")
        return images
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


def _is_hf_map_dataset(items) -> bool:
    return type(items).__module__.startswith("datasets.") and type(items).__name__ == "Dataset"


def iterate(items) -> Iterator:
    """The items one by one; a map-style dataset (torch or Hugging Face) item by item, each fetched only when used."""
    if (isinstance(items, torch.utils.data.Dataset) and hasattr(items, "__len__")) or _is_hf_map_dataset(items):
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


def read_image(item, keep_alpha: bool = False) -> PIL.Image.Image:
    """An item as an RGB PIL image (RGBA with `keep_alpha` when it has transparency). Accepts paths, PIL images,
    arrays/tensors in [0, 1] ((H, W, C) or (C, H, W)), dicts with an `"image"` key (Hugging Face `datasets`) and
    `(image, label)` tuples (torchvision datasets)."""
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
            return image.convert(_mode(image, keep_alpha))
    if isinstance(item, PIL.Image.Image):
        return item.convert(_mode(item, keep_alpha))
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
        array = np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array[..., : 4 if keep_alpha else 3]
        return PIL.Image.fromarray(np.ascontiguousarray(array))
    raise TypeError(
        f"Cannot read an image from a {type(item).__name__}; expected a path, a PIL image, an array or tensor, a dict "
        "with an `image` key or an `(image, label)` tuple."
    )


def _mode(image: PIL.Image.Image, keep_alpha: bool) -> str:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    return "RGBA" if keep_alpha and has_alpha else "RGB"


def image_size(item) -> tuple[int, int]:
    """An item's `(height, width)` after EXIF rotation; for a file, read from its header without decoding it."""
    if isinstance(item, _Indexed):
        item = item.get()
    if isinstance(item, dict) and isinstance(item.get("image"), (str, os.PathLike)):
        item = item["image"]
    if isinstance(item, (str, os.PathLike)):
        with PIL.Image.open(item) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)  # EXIF orientations 5-8 swap width and height
        return (width, height) if orientation in (5, 6, 7, 8) else (height, width)
    width, height = read_image(item).size
    return height, width


def content_sha256(item, image: PIL.Image.Image | None = None) -> str:
    """SHA-256 of an item's file bytes for a path, else of its pixels (mode, size and bytes of `image` or the item)."""
    if isinstance(item, _Indexed):
        item = item.get()
    path = item.get("path") if isinstance(item, dict) else item
    digest = hashlib.sha256()
    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    image = image if image is not None else read_image(item, keep_alpha=True)
    digest.update(f"{image.mode} {image.width}x{image.height}\n".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def fit(image: PIL.Image.Image, resolution: int | None) -> PIL.Image.Image:
    """The image resized (shorter side) and centre-cropped to `resolution` x `resolution`; unchanged for `None`."""
    if resolution is None:
        return image
    return PIL.ImageOps.fit(image, (resolution, resolution), method=PIL.Image.BICUBIC, centering=(0.5, 0.5))
