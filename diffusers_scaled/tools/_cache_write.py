"""Writing one shard of a latent cache: read and fit each image to its bucket, encode, store the chosen tensors.

Within a shard the images are grouped by bucket (in bucket-list order, images in index order) and encoded in batches
of `batch_size` images of one bucket. The generator of a batch is `batch_generator(seed, i)` with `i` the index of the
batch's first image; it draws the batch's posterior samples, then those of its flipped images. A random crop of image
`i` is drawn from its own generator. So the cache depends only on the settings, not on the number of processes.

Video clips (`Plan.clip`, see `_clips`): an item is a clip; its frames are taken (`num_frames`, every `frame_stride`-th),
all placed in the bucket with the placement of the clip's frame size (one crop for every frame), and a batch of clips
is encoded as one batch of videos; flipped clips are the clips with every frame mirrored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import PIL.Image
import PIL.ImageOps
import torch

from .. import atomic
from . import _cache_layout, _clips, _data, _encoding
from . import buckets as _buckets


STORES = ("sample", "mean", "distribution")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_CROP_STREAM = 0x5EED


@dataclass(frozen=True)
class Plan:
    """What to do with each image: the settings of a run that shape its tensors."""

    buckets: list | None  # (height, width) pairs, or None: keep each image's size (cropped to the scale factor)
    crop: str
    flip: bool
    alpha_mask: bool
    store: str
    dtype: torch.dtype | None
    seed: int
    batch_size: int
    scale_factor: int
    clip: tuple[int, int] | None = None  # video clips: (num_frames, frame_stride); None: images

    def size_of(self, item) -> tuple[int, int]:
        """An item's `(height, width)`: an image's, or a clip's frame size."""
        return _clips.clip_size(item) if self.clip else _data.image_size(item)

    def content_sha256(self, item) -> str:
        return _clips.content_sha256(item) if self.clip else _data.content_sha256(item)

    def bucket_for(self, size: tuple[int, int]) -> tuple[int, int]:
        if self.buckets is None:
            return (size[0] // self.scale_factor * self.scale_factor, size[1] // self.scale_factor * self.scale_factor)
        if len(self.buckets) == 1:
            return self.buckets[0]
        return _buckets.nearest_bucket(size, self.buckets)

    def read(self, job: tuple) -> Prepared:
        """`prepare(item, index, bucket, self)` for `job = (item, index, bucket)`: the `read` of a `BatchLoader`."""
        return prepare(*job, self)


@dataclass
class Prepared:
    image: PIL.Image.Image | list[PIL.Image.Image]  # RGB, at the bucket's size (a clip: its frames)
    alpha: PIL.Image.Image | None  # L, the same crop of the alpha channel
    placement: _buckets.Placement
    sha256: str
    clip: _clips.Clip | None = None  # a clip's source frame count and frame rate


def _placement(size: tuple[int, int], index: int, bucket: tuple[int, int], plan: Plan) -> _buckets.Placement:
    if plan.buckets is None:  # keep the size: centre-crop to a multiple of the scale factor, no resize
        offset = ((size[0] - bucket[0]) // 2, (size[1] - bucket[1]) // 2)
        return _buckets.Placement(size, size, offset, bucket)
    generator = _encoding.derived_generator(_CROP_STREAM, plan.seed, index)
    return _buckets.place(size, bucket, plan.crop, generator if plan.crop == "random" else None)


def prepare_clip(item, index: int, bucket: tuple[int, int], plan: Plan) -> Prepared:
    """Reads clip `index`, takes its frames and fits each to `bucket` with one placement (in the reader threads)."""
    clip = _clips.read_clip(item, *plan.clip)
    first = clip.frames[0]
    placement = _placement((first.height, first.width), index, bucket, plan)
    frames = [_buckets.apply_placement(frame, placement) for frame in clip.frames]
    return Prepared(frames, None, placement, _clips.content_sha256(item), clip)


def prepare(item, index: int, bucket: tuple[int, int], plan: Plan) -> Prepared:
    """Reads item `index` and fits it to `bucket` (runs in the reader threads)."""
    if plan.clip:
        return prepare_clip(item, index, bucket, plan)
    image = _data.read_image(item, keep_alpha=True)
    sha256 = _data.content_sha256(item, image)
    size = (image.height, image.width)
    placement = _placement(size, index, bucket, plan)
    fitted = _buckets.apply_placement(image, placement)
    alpha = None
    if plan.alpha_mask:
        alpha = fitted.getchannel("A") if fitted.mode == "RGBA" else PIL.Image.new("L", fitted.size, 255)
    return Prepared(fitted.convert("RGB"), alpha, placement, sha256)


def _encode(codec, images: list, plan: Plan, generator) -> list[tuple[torch.Tensor, ...]]:
    """Per image: `(latents,)` for sample / mean, `(mean, logvar)` for distribution."""
    with torch.no_grad():
        if plan.store == "distribution":
            try:
                mean, logvar = codec.encode_posterior(images)
            except ValueError as error:
                raise ValueError(f'`store="distribution"`: {error} Use `store="sample"` or `"mean"`.') from None
            return list(zip(mean, logvar))
        mode = "sample" if plan.store == "sample" else "argmax"
        return [(latent,) for latent in codec.encode_latents(images, generator=generator, sample_mode=mode)]


def _mirrored(image):
    """An image, or each frame of a clip, mirrored horizontally."""
    if isinstance(image, list):
        return [PIL.ImageOps.mirror(frame) for frame in image]
    return PIL.ImageOps.mirror(image)


def _stored(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    return (tensor if dtype is None else tensor.to(dtype)).contiguous()


def _tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


def alpha_to_latent_mask(alpha: PIL.Image.Image, scale_factor: int) -> torch.Tensor:
    """An `L` alpha channel as a `(h, w)` float32 mask in [0, 1] at latent resolution (mean over each
    `scale_factor` x `scale_factor` block)."""
    import numpy as np

    pixels = torch.from_numpy(np.asarray(alpha, dtype=np.float32) / 255.0)
    return torch.nn.functional.avg_pool2d(pixels[None, None], scale_factor)[0, 0]


def shard_batches(chunk: list, plan: Plan, skip_bad_images: bool = False) -> tuple[list, list]:
    """The batches of a shard as lists of `(position in the shard, bucket)`: grouped by bucket, in index order; and
    the images whose size cannot be read, `(position, Unreadable)` (with `skip_bad_images`; else that raises)."""
    sizes = [_encoding.guarded_read(item, plan.size_of, skip_bad_images) for item in chunk]
    unreadable = [(p, size) for p, size in enumerate(sizes) if isinstance(size, _encoding.Unreadable)]
    targets = {p: plan.bucket_for(size) for p, size in enumerate(sizes) if not isinstance(size, _encoding.Unreadable)}
    rank = {bucket: i for i, bucket in enumerate(plan.buckets)} if plan.buckets else {}
    order = sorted(targets, key=lambda p: (rank.get(targets[p], 0), targets[p], p))
    batches, current = [], []
    for position in order:
        if current and (targets[current[0][0]] != targets[position] or len(current) == plan.batch_size):
            batches.append(current)
            current = []
        current.append((position, targets[position]))
    if current:
        batches.append(current)
    return batches, unreadable


def _skipped_entry(item, index: int, unreadable: _encoding.Unreadable, plan: Plan) -> dict:
    try:  # the file's bytes, if they can be read at all: `append` retries the image once the file changes
        sha256 = plan.content_sha256(item)
    except Exception:  # noqa: BLE001 - no hash then: the image is retried by each `append`
        sha256 = None
    return {"index": index, "source": unreadable.path, "reason": unreadable.reason, "sha256": sha256}


def read_shard(loader, chunk: list, first: int, plan: Plan) -> Iterator[tuple[list, list[Prepared], list[dict]]]:
    """`(batch, prepared images, skipped)` for each batch of the shard (see `shard_batches`), read by `loader` (whose
    `read` is `plan.read`) one batch ahead of use; `batch` holds the readable images' `(position, bucket)` and
    `skipped` the entries of the images left out as unreadable (with the loader's `skip_bad_images`). Images whose size
    cannot be read come first, as a batch of none."""
    batches, unreadable = shard_batches(chunk, plan, loader.skip_bad_images)
    if unreadable:
        yield [], [], [_skipped_entry(chunk[p], first + p, u, plan) for p, u in unreadable]
    reads = loader.map([(chunk[p], first + p, bucket) for p, bucket in batch] for batch in batches)
    for batch, (_, read) in zip(batches, reads):
        skipped = []
        for k, source, reason in read.skipped:
            position = batch[k][0]
            skipped.append(
                _skipped_entry(chunk[position], first + position, _encoding.Unreadable(source, reason), plan)
            )
        yield [batch[k] for k in read.positions], read.images, skipped


def encode_shard(codec, reads, first: int, sources: list[str], settings: dict, plan: Plan) -> bytes:
    """The shard file of images `first ...`: their batches as read (`read_shard`) encoded, as safetensors bytes."""
    tensors, entries, skipped = {}, {}, []
    for batch, prepared, skipped_here in reads:
        skipped += skipped_here
        if not prepared:
            continue
        generator = _encoding.batch_generator(plan.seed, first + batch[0][0])
        encoded = _encode(codec, [p.image for p in prepared], plan, generator)
        flipped = None
        if plan.flip:
            flipped = _encode(codec, [_mirrored(p.image) for p in prepared], plan, generator)
        for k, ((position, _), item) in enumerate(zip(batch, prepared)):
            index = first + position
            key = f"{index:08d}"
            names = _cache_layout.tensor_names(key, plan.store, plan.flip, plan.alpha_mask)
            values = {"latents": encoded[k][0]}
            if plan.store == "distribution":
                values["logvar"] = encoded[k][1]
            if flipped is not None:
                values["flipped"] = flipped[k][0]
                if plan.store == "distribution":
                    values["flipped_logvar"] = flipped[k][1]
            values = {role: _stored(value, plan.dtype) for role, value in values.items()}
            if plan.alpha_mask:
                values["alpha_mask"] = _stored(alpha_to_latent_mask(item.alpha, plan.scale_factor), plan.dtype)
            entry = {
                "index": index,
                "key": key,
                "source": sources[position],
                "sha256": item.sha256,
                **item.placement.to_dict(),
                "latent_shape": list(values["latents"].shape),
                "tensors": names,
                "tensor_sha256": {role: _tensor_sha256(value) for role, value in values.items()},
            }
            if item.clip is not None:
                num_frames, frame_stride = plan.clip
                entry.update(
                    num_frames=num_frames,
                    frame_stride=frame_stride,
                    source_num_frames=item.clip.source_num_frames,
                    fps=item.clip.fps,
                )
            if plan.flip:
                entry["crop_top_left_flipped"] = list(item.placement.flipped().crop_top_left)
            for role, value in values.items():
                tensors[names[role]] = value
            entries[index] = entry
    metadata = {key: json.dumps(value, sort_keys=True) for key, value in settings.items()}
    metadata["images"] = json.dumps([entries[i] for i in sorted(entries)], sort_keys=True)
    if skipped:
        metadata["skipped"] = json.dumps(sorted(skipped, key=lambda entry: entry["index"]), sort_keys=True)
    return safetensors_bytes(tensors, metadata)


def save_shard(path: str, data: bytes) -> None:
    """Writes a shard file all-or-nothing (a temporary file, then renamed; see `diffusers_scaled.atomic`)."""
    with atomic.replace_file(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_shard(codec, loader, chunk: list, first: int, sources: list[str], settings: dict, plan: Plan, path: str):
    """Encodes `chunk` (images `first ...`) and writes the shard to `path` (atomically: a temporary file, then renamed).
    Unreadable image files (with the loader's `skip_bad_images`) are recorded in the `skipped` metadata."""
    reads = read_shard(loader, chunk, first, plan)
    save_shard(path, encode_shard(codec, reads, first, sources, settings, plan))


def safetensors_bytes(tensors: dict, metadata: dict) -> bytes:
    """`safetensors.torch.save(tensors, metadata=metadata)` with the header's metadata in key order.

    safetensors orders the tensors itself (by dtype, then name) but keeps the metadata in a Rust hash map, whose order
    changes from one call to the next: the same shard would get other bytes on each run. Only the header's
    `__metadata__` object is rewritten, in safetensors' own header form (compact JSON padded with spaces to a multiple
    of 8 bytes, its length first as 8 little-endian bytes); the tensor data is unchanged.
    """
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + length :]
