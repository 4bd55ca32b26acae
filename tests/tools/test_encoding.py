"""The dataset-encoding fast path of the tools: images read ahead in worker threads, and the opt-in compiled VAE.

Neither may change a result: the caches and calibrations must be those of the plain loop, bitwise (the `eager` compile
backend traces with dynamo but does not generate code, so its arithmetic is eager's).
"""

import threading

import numpy as np
import pytest
import torch
from _compare import shard_contents
from fixtures import make_pil_images, tiny_vae_kl, write_image_folder

from diffusers_scaled.tools import calibrate, encode_to_cache
from diffusers_scaled.tools._data import chunks
from diffusers_scaled.tools._encoding import BatchLoader


def _read_all(folder, resolution, num_workers, batch_size=3):
    with BatchLoader(resolution, num_workers) as loader:
        return [
            (items, [np.asarray(image) for image in images], sizes)
            for items, (images, sizes, _, _) in loader.map(chunks(folder, batch_size))
        ]


def test_workers_read_the_same_images_in_the_same_order(tmp_path):
    from diffusers_scaled.tools._data import as_items

    folder = as_items(write_image_folder(str(tmp_path), n=7, sizes=((20, 24), (32, 18))))
    for resolution in (16, None):
        plain = _read_all(folder, resolution, 0)
        threaded = _read_all(folder, resolution, 3)
        assert [items for items, _, _ in threaded] == [items for items, _, _ in plain] == list(chunks(folder, 3))
        assert [sizes for _, _, sizes in threaded] == [sizes for _, _, sizes in plain]
        for (_, a, _), (_, b, _) in zip(plain, threaded):
            assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


class _Recording(torch.utils.data.Dataset):
    """Images whose reading can be watched: `started[i]` is set when item `i` is read."""

    def __init__(self, n):
        self.images = make_pil_images(n, (16, 16))
        self.started = [threading.Event() for _ in range(n)]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        self.started[index].set()
        return self.images[index]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_the_next_batch_is_read_while_the_caller_works(num_workers):
    dataset = _Recording(4)
    with BatchLoader(16, num_workers) as loader:
        batches = loader.map(chunks(dataset, 2))
        next(batches)  # the caller now holds batch 0 and works on it
        read_ahead = dataset.started[2].wait(timeout=10 if num_workers else 0.2)
        assert read_ahead == (num_workers > 0)  # without workers nothing is read before it is asked for
        assert len(list(batches)) == 1


def test_a_bad_item_raises_from_a_worker():
    with BatchLoader(16, 2) as loader:
        with pytest.raises(TypeError, match="Cannot read an image from a int"):
            list(loader.map(iter([make_pil_images(1), [5]])))
    with pytest.raises(ValueError, match="`num_workers` must be a non-negative integer; got -1"):
        BatchLoader(16, -1)


def test_cache_with_workers_and_compile_is_the_plain_cache(tmp_path):
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=7, sizes=((20, 24),))
    settings = {"shard_size": 3, "batch_size": 2, "resolution": 16, "progress": False}
    encode_to_cache(vae, folder, tmp_path / "plain", num_workers=0, **settings)
    encode_to_cache(vae, folder, tmp_path / "threads", num_workers=3, **settings)
    torch._dynamo.reset()
    compile = {"backend": "eager", "min_calls": 1}
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    encode_to_cache(vae, folder, tmp_path / "compiled", num_workers=2, compile=compile, **settings)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > graphs  # the compiled path ran
    expected = shard_contents(tmp_path / "plain")
    assert shard_contents(tmp_path / "threads") == expected
    assert shard_contents(tmp_path / "compiled") == expected
    with pytest.raises(ValueError, match="`num_workers`"):
        encode_to_cache(vae, folder, tmp_path / "bad", num_workers=1.5, **settings)


def test_calibration_with_workers_and_compile_is_the_plain_calibration(tmp_path):
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=9, sizes=((20, 24), (24, 24)))
    settings = {"batch_size": 2, "resolution": 16, "progress": False}
    plain = calibrate(vae, folder, num_workers=0, **settings)
    assert calibrate(vae, folder, num_workers=3, **settings) == plain
    torch._dynamo.reset()
    assert calibrate(vae, folder, num_workers=2, compile={"backend": "eager", "min_calls": 1}, **settings) == plain
    with pytest.raises(ValueError, match="`num_workers`"):
        calibrate(vae, folder, num_workers=True, **settings)
