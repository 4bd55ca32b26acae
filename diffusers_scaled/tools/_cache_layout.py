"""The on-disk layout of a latent cache: file names, the format tag, and reading the index and shard headers.

Format 2 (written now). Per shard, the safetensors header metadata (JSON strings) holds the run's settings and
`images`, one entry per image:

| entry key | what |
| --- | --- |
| `index`, `source`, `sha256` | position in the dataset, path (or `#index`), SHA-256 of the file's bytes (or pixels) |
| `original_size`, `resized_size`, `crop_top_left`, `target_size` | `(height, width)` / `(top, left)` in pixels |
| `crop_top_left_flipped` | with flipped latents: the crop offset of the flipped image |
| `latent_shape` | `(C, h, w)` of each stored latent tensor |
| `tensors` | role -> tensor name in the shard: `latents` (sample, mean or distribution mean), `logvar`, `flipped`, `flipped_logvar`, `alpha_mask` |

Format 1 (the first release: square images only, `original_size` as `(width, height)`, one tensor per image) is read
by `load_cache`; the training reader and `verify` ask for a re-encode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from safetensors import safe_open


FORMAT_V1 = "diffusers-scaled-latent-cache/1"
FORMAT = "diffusers-scaled-latent-cache/2"
INDEX_FILE = "cache.json"
ROLES = ("latents", "logvar", "flipped", "flipped_logvar", "alpha_mask")


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def tensor_names(key: str, store: str, flip: bool, alpha_mask: bool) -> dict[str, str]:
    """Role -> tensor name of one image's tensors."""
    names = {"latents": key}
    if store == "distribution":
        names["logvar"] = f"{key}.logvar"
    if flip:
        names["flipped"] = f"{key}.flipped"
        if store == "distribution":
            names["flipped_logvar"] = f"{key}.flipped.logvar"
    if alpha_mask:
        names["alpha_mask"] = f"{key}.alpha_mask"
    return names


def read_index(cache_dir: str | os.PathLike) -> dict:
    """The cache's `cache.json`. Raises `FileNotFoundError` for an unfinished cache or a folder that is none."""
    cache_dir = os.fspath(cache_dir)
    if not os.path.isdir(cache_dir):
        raise FileNotFoundError(f"`cache_dir` must be a latent cache folder; `{cache_dir}` is not a folder.")
    path = os.path.join(cache_dir, INDEX_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`{cache_dir}` has no `{INDEX_FILE}`: the cache is unfinished. Run the same `encode` again to complete it."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def damaged(path: str, error: Exception) -> ValueError:
    """The error for a shard that cannot be read (truncated, overwritten, not a shard of this cache)."""
    return ValueError(
        f"The shard `{path}` is damaged ({type(error).__name__}: {error}). Run the same `encode` again: it keeps the "
        "shards that read back complete and writes this one anew."
    )


def read_shard_metadata(path: str) -> dict:
    """The decoded header metadata of a shard. Raises `ValueError` naming the shard if it cannot be read."""
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        return {key: json.loads(value) for key, value in metadata.items()}
    except Exception as error:  # safetensors' own errors name neither the file nor a way out
        raise damaged(path, error) from error


def require_current_format(index: dict, cache_dir: str) -> None:
    found = index.get("format")
    if found == FORMAT_V1:
        raise ValueError(
            f"`{cache_dir}` is a format-1 latent cache (square images, no crop coordinates); this needs format 2. "
            "Encode the images again into a new folder with this version."
        )
    if found != FORMAT:
        raise ValueError(f"`{cache_dir}` has cache format {found!r}; this version reads {FORMAT!r}.")


def iterate_folder(cache_dir: str, all_tensors: bool = False) -> Iterator[tuple[dict, object]]:
    """`load_cache` of a folder: `(entry, latents)`, or `(entry, {role: tensor})`, per image in order."""
    index = read_index(cache_dir)
    for name in index["shards"]:
        path = os.path.join(cache_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The cache lists `{name}`, which is missing from `{cache_dir}`.")
        try:
            shard = safe_open(path, framework="pt")
            entries = json.loads((shard.metadata() or {})["images"])
        except Exception as error:  # safetensors' own errors name neither the file nor a way out
            raise damaged(path, error) from error
        with shard as f:
            for entry in entries:
                if not all_tensors:
                    yield entry, f.get_tensor(entry["key"])
                else:
                    names = entry.get("tensors", {"latents": entry["key"]})
                    yield entry, {role: f.get_tensor(tensor) for role, tensor in names.items()}
