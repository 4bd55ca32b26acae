"""`assert_pipelines_identical`: two pipelines hold the same components, configs and tensors, key by key;
`shard_contents` / `file_hashes`: what a latent cache folder holds / its files' bytes, for comparing caches;
`folder_tree`: every file and folder under a path, for checking that a failed write changed nothing;
`assert_equals_stock_upcast`: a float16 VAE decoded with `force_upcast`, against the stock SDXL path.

For save/load round trips: what a pipeline saves, loading gives back, with nothing dropped, added or changed.
"""

from __future__ import annotations

import hashlib
import inspect
import os

import numpy as np
import torch
from safetensors import safe_open


# Config entries that describe where or how an object was made rather than what it is:
# - `_name_or_path`: the folder it was loaded from;
# - `_use_default_values`: the keys that took their default at construction; once saved every key is written
#   explicitly, so a loaded object lists none (the values themselves are compared like every other key).
PROVENANCE_KEYS = frozenset({"_name_or_path", "_use_default_values"})
# Entries `save_pretrained` writes (the class and the diffusers version): an object built in memory may lack them; they
# are compared whenever both sides have them.
WRITTEN_ON_SAVE = frozenset({"_class_name", "_diffusers_version"})

SAMPLE_TEXT = "A painting of a squirrel eating a burger, 1024x1024 <|endoftext|>"


def plain(value):
    """JSON's view of a config value: tuples are lists once saved."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_configs_identical(a, b, where: str) -> None:
    a, b = dict(a), dict(b)
    skip = PROVENANCE_KEYS | {k for k in WRITTEN_ON_SAVE if (k in a) != (k in b)}
    a = {k: plain(v) for k, v in a.items() if k not in skip}
    b = {k: plain(v) for k, v in b.items() if k not in skip}
    assert a.keys() == b.keys(), f"{where}: keys only in one config: {sorted(a.keys() ^ b.keys())}"
    different = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert not different, f"{where}: config values differ: {different}"


def assert_state_dicts_identical(a: dict, b: dict, where: str) -> None:
    assert a.keys() == b.keys(), f"{where}: tensors only in one: {sorted(a.keys() ^ b.keys())}"
    for key in a:
        x, y = a[key], b[key]
        assert x.dtype == y.dtype, f"{where}.{key}: dtype {x.dtype} != {y.dtype}"
        assert x.shape == y.shape, f"{where}.{key}: shape {tuple(x.shape)} != {tuple(y.shape)}"
        assert torch.equal(x.cpu(), y.cpu()), f"{where}.{key}: values differ"


def _assert_components_identical(a, b, name: str) -> None:
    assert type(a) is type(b), f"{name}: {type(a).__name__} != {type(b).__name__}"
    if a is None:
        return
    if isinstance(a, torch.nn.Module):
        config = getattr(a, "config", None)
        if config is not None:
            to_dict = getattr(config, "to_dict", None)  # transformers' configs
            assert_configs_identical(
                to_dict() if to_dict else config, b.config.to_dict() if to_dict else b.config, name
            )
        assert_state_dicts_identical(a.state_dict(), b.state_dict(), name)
        assert a.dtype == b.dtype and a.device == b.device, f"{name}: {a.dtype}/{a.device} != {b.dtype}/{b.device}"
        return
    if hasattr(a, "get_vocab"):  # tokenizers: vocabulary, special tokens, limits, and what they make of a text
        assert a.get_vocab() == b.get_vocab(), f"{name}: vocabularies differ"
        assert a.special_tokens_map == b.special_tokens_map, f"{name}: special tokens differ"
        assert a.model_max_length == b.model_max_length, f"{name}: model_max_length differs"
        assert a(SAMPLE_TEXT).input_ids == b(SAMPLE_TEXT).input_ids, f"{name}: tokenization differs"
        return
    config = getattr(a, "config", None)  # schedulers, image processors, feature extractors
    assert config is not None, f"{name}: no way to compare a {type(a).__name__}"
    assert_configs_identical(config, b.config, name)


def assert_pipelines_identical(a, b) -> None:
    """Same class, same pipeline config, and component by component the same type, config and tensors."""
    assert type(a) is type(b), f"pipeline classes differ: {type(a).__name__} != {type(b).__name__}"
    assert_configs_identical(a.config, b.config, "pipeline")
    assert a.components.keys() == b.components.keys(), (
        f"components: {sorted(a.components.keys() ^ b.components.keys())}"
    )
    for name in a.components:
        _assert_components_identical(a.components[name], b.components[name], name)


def shard_contents(folder) -> dict:
    """Every shard's metadata and tensors (as bytes): what a cache holds, whatever the file layout."""
    shards = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            with safe_open(os.path.join(folder, name), framework="pt") as f:
                tensors = {
                    k: (f.get_tensor(k).dtype, f.get_tensor(k).view(-1).view(torch.uint8).numpy().tobytes())
                    for k in f.keys()
                }
                shards[name] = (f.metadata(), tensors)
    return shards


def file_hashes(folder) -> dict:
    """SHA-256 of every file in `folder` (not recursive), by name."""
    hashes = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            hashes[name] = hashlib.sha256(f.read()).hexdigest()
    return hashes


def folder_tree(root) -> dict:
    """Everything under `root`: relative path -> the file's bytes, or None for a folder."""
    found = {}
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                found[os.path.relpath(os.path.join(folder, name), root)] = f.read()
    return found


def assert_images_equal(images, expected) -> None:
    """Bitwise equality of two pipeline outputs of the same `output_type` (`np` arrays or `pt` tensors)."""
    if isinstance(expected, torch.Tensor):
        assert torch.equal(images, expected)
    else:
        assert np.array_equal(images, expected)


def assert_same_frames(actual, expected, output_type: str) -> None:
    """`.frames` bitwise: an np.ndarray (B, F, H, W, 3), a torch.Tensor (B, F, 3, H, W), or lists (batch) of lists
    (frames) of PIL images."""
    if output_type == "np":
        assert isinstance(actual, np.ndarray) and np.array_equal(actual, expected)
    elif output_type == "pt":
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected)
    else:
        assert len(actual) == len(expected)
        for video, stock_video in zip(actual, expected):
            assert len(video) == len(stock_video)
            assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(video, stock_video))


def stock_upcast_is_full() -> bool:
    """Whether the installed diffusers upcasts the whole VAE for `force_upcast` (diffusers >= 0.36).

    Older releases keep `post_quant_conv`, `conv_in` and the decoder's mid block in float16 when torch 2 attention is
    used, so their output differs from a full float32 decode, which is what ours computes.
    """
    from diffusers import StableDiffusionXLPipeline

    return "mid_block" not in inspect.getsource(StableDiffusionXLPipeline.upcast_vae)


def assert_equals_stock_upcast(images: np.ndarray, stock: np.ndarray) -> None:
    """`images` equal the stock SDXL decode of a float16 VAE with `force_upcast`: bitwise where diffusers upcasts the
    whole VAE, within 1e-2 where its partial upcast rounds some layers in float16 (diffusers < 0.36)."""
    if stock_upcast_is_full():
        assert np.array_equal(images, stock)
    else:
        np.testing.assert_allclose(images, stock, rtol=0, atol=1e-2)
