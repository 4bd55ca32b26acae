"""Hugging Face `datasets`: as the image source (map-style and streaming), and as the export format of a cache."""

import json

import datasets
import pytest
import torch
from _compare import shard_contents
from fixtures import make_pil_images, tiny_vae_kl

from diffusers_scaled.tools import LatentCacheDataset, cache_to_dataset, encode_to_cache, load_cache


KWARGS = {"shard_size": 2, "batch_size": 2, "resolution": 16, "buckets": [(12, 20), (20, 12)], "progress": False}


def _images():
    return make_pil_images(3, (40, 24), seed=1) + make_pil_images(2, (24, 40), seed=2)


def test_dataset_sources_give_the_list_cache(tmp_path):
    vae = tiny_vae_kl()
    encode_to_cache(vae, _images(), tmp_path / "list", **KWARGS)
    table = datasets.Dataset.from_dict({"picture": _images(), "label": list(range(5))})
    table = table.cast_column("picture", datasets.Image())
    encode_to_cache(vae, table, tmp_path / "map", image_column="picture", **KWARGS)
    streaming = table.to_iterable_dataset(num_shards=2)
    encode_to_cache(vae, streaming, tmp_path / "stream", image_column="picture", **KWARGS)
    reference = shard_contents(tmp_path / "list")
    assert shard_contents(tmp_path / "map") == reference and shard_contents(tmp_path / "stream") == reference
    with pytest.raises(ValueError, match="`image_column` must be a column of the dataset"):
        encode_to_cache(vae, table, tmp_path / "bad", **KWARGS)


def test_export_round_trips_every_tensor_and_key(tmp_path):
    encode_to_cache(tiny_vae_kl(), _images(), tmp_path / "cache", flip=True, alpha_mask=True, store="distribution",
                    dtype="bfloat16", **KWARGS)  # fmt: skip
    exported = cache_to_dataset(tmp_path / "cache")
    assert len(exported) == 5 and exported[0]["target_size"] == [12, 20]
    index = json.loads((tmp_path / "cache" / "cache.json").read_text())
    exported.save_to_disk(str(tmp_path / "exported"))
    reloaded = datasets.load_from_disk(str(tmp_path / "exported"))
    original = list(load_cache(tmp_path / "cache", all_tensors=True))
    for dataset in (exported, reloaded):
        settings = json.loads(dataset.info.description)["diffusers_scaled_cache"]
        assert settings == {key: value for key, value in index.items() if key != "shards"}  # every key of cache.json
        copy = list(load_cache(dataset, all_tensors=True))
        assert [entry for entry, _ in copy] == [entry for entry, _ in original]
        for (_, a), (_, b) in zip(original, copy):
            assert a.keys() == b.keys() == {"latents", "logvar", "flipped", "flipped_logvar", "alpha_mask"}
            assert all(a[k].dtype == b[k].dtype == torch.bfloat16 and torch.equal(a[k], b[k]) for k in a)
    assert [t for _, t in load_cache(reloaded)][2].shape == original[2][1]["latents"].shape
    with pytest.raises(ValueError, match="no cache settings"):
        list(load_cache(datasets.Dataset.from_dict({"x": [1]})))
    LatentCacheDataset(tmp_path / "cache")  # the source cache stays usable
