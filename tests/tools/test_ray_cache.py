"""`encode_to_cache_ray`: the latent cache written by a Ray Data pipeline is the single-process cache, byte for byte,
also when a worker is killed mid-run, and a rerun writes only the missing shards.

One local Ray cluster serves every test of the module (`ray.init(num_cpus=2)` takes 10-40 s on two cores), and the
runs are few and small: each run starts its encoder actors, which import torch and diffusers. The module needs the
`ray` extra (the README's test command installs it) and skips where it is missing (CI's oldest-diffusers suite).
"""

import os
import shutil
import tempfile

import numpy as np
import PIL.Image
import pytest
import torch
from fixtures import make_pil_images, tiny_vae_kl, write_image_folder


ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from diffusers_scaled import cli  # noqa: E402
from diffusers_scaled.tools import encode_to_cache, encode_to_cache_ray, load_cache  # noqa: E402
from diffusers_scaled.tools.cache import shard_name  # noqa: E402
from diffusers_scaled.tools.ray_cache import _KILL_ONCE_ENV  # noqa: E402


# Every option that shapes the tensors: three buckets (the images go to all three), random crops, flipped latents,
# alpha masks (one RGBA image), posterior samples (the batch generators) stored in bfloat16; shards of 3 images in
# batches of up to 2 of one bucket.
SETTINGS = {
    "shard_size": 3,
    "batch_size": 2,
    "resolution": 16,
    "buckets": [(16, 16), (16, 24), (24, 16)],
    "crop": "random",
    "flip": True,
    "alpha_mask": True,
    "store": "sample",
    "dtype": "bfloat16",
    "seed": 3,
}
NUM_SHARDS = 3


@pytest.fixture(scope="session")
def ray_cluster():
    # Ray keeps its sessions (logs, sockets) under its temporary folder: a short one (a socket path must stay under
    # 108 bytes), removed with the cluster, so that nothing is left behind.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 2**20, _temp_dir=temp_dir
    )
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A folder of 8 images of three aspect ratios (one RGBA), its VAE saved to a folder (for the CLI), and the
    single-process cache of `SETTINGS` as the reference."""
    root = tmp_path_factory.mktemp("ray_cache")
    folder = write_image_folder(str(root / "images"), n=7, sizes=((16, 28), (32, 20), (24, 24)), seed=5)
    rgba = np.dstack([np.asarray(make_pil_images(1, size=(24, 20), seed=9)[0]), np.tile(np.arange(24) * 10, (20, 1))])
    PIL.Image.fromarray(rgba.astype(np.uint8), "RGBA").save(os.path.join(folder, "img_007.png"))
    vae_dir = str(root / "vae")
    tiny_vae_kl().save_pretrained(vae_dir)
    vae = tiny_vae_kl()
    reference = str(root / "reference")
    encode_to_cache(vae, folder, reference, vae_name=vae_dir, progress=False, **SETTINGS)
    return {"root": root, "folder": folder, "vae": vae, "vae_dir": vae_dir, "reference": reference}


def _files(folder) -> dict:
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def _assert_same_cache(folder, reference):
    """Same entries and tensors through `load_cache`, bitwise, and the same files, byte for byte."""
    got, expected = list(load_cache(folder, all_tensors=True)), list(load_cache(reference, all_tensors=True))
    assert len(got) == len(expected) == 8
    for (entry, tensors), (expected_entry, expected_tensors) in zip(got, expected):
        assert entry == expected_entry
        assert tensors.keys() == expected_tensors.keys() == {"latents", "flipped", "alpha_mask"}
        assert all(torch.equal(tensors[role], expected_tensors[role]) for role in tensors)
    assert _files(folder) == _files(reference)


def test_ray_cache_is_the_single_process_cache(ray_cluster, dataset, tmp_path):
    entries = [entry for entry, _ in load_cache(dataset["reference"])]
    assert len({tuple(entry["target_size"]) for entry in entries}) == 3  # every bucket is used
    latents = torch.stack([t for _, t in load_cache(dataset["reference"]) if t.shape == (4, 8, 8)]).float()
    assert latents.std() > 0.1 and latents.dtype == torch.float32  # non-trivial values (stored as bfloat16)

    written = []
    index = encode_to_cache_ray(
        dataset["vae"],
        dataset["folder"],
        tmp_path,
        num_actors=2,
        vae_name=dataset["vae_dir"],
        progress=False,
        callback=lambda shard, path: written.append((shard, path)),
        **SETTINGS,
    )
    assert sorted(written) == [(i, os.path.join(str(tmp_path), shard_name(i))) for i in range(NUM_SHARDS)]
    assert index["shards"] == [shard_name(i) for i in range(NUM_SHARDS)] and index["num_images"] == 8
    _assert_same_cache(tmp_path, dataset["reference"])


def test_ray_cache_of_video_clips_is_the_single_process_cache(ray_cluster, tmp_path):
    # Clips (frame folders and a GIF, `num_frames`): the same shard files as `encode_to_cache`, byte for byte.
    from fixtures import tiny_vae_wan, write_clip_folder

    folder = write_clip_folder(str(tmp_path / "clips"), n=3, num_frames=7, gif=(1,))
    settings = {"num_frames": 5, "frame_stride": 1, "shard_size": 2, "batch_size": 2, "resolution": 16, "seed": 2}
    # Ray runs a one-CPU actor with one thread (OMP_NUM_THREADS=1), and the 3-D convolutions round differently with
    # another thread count: the reference is computed with one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        encode_to_cache(tiny_vae_wan(), folder, tmp_path / "reference", progress=False, **settings)
    finally:
        torch.set_num_threads(threads)
    encode_to_cache_ray(tiny_vae_wan(), folder, tmp_path / "ray", num_actors=1, progress=False, **settings)
    assert _files(tmp_path / "ray") == _files(tmp_path / "reference")
    assert [tuple(t.shape) for _, t in load_cache(tmp_path / "ray")] == [(16, 2, 2, 2)] * 3


def test_killed_encoder_resumes_only_missing_shards(ray_cluster, dataset, tmp_path, monkeypatch):
    # A finished cache with two shards lost: the rerun writes those two, while its only encoder actor is killed
    # (os._exit) before it encodes its first shard; Ray restarts it and retries the shard.
    out = tmp_path / "cache"
    shutil.copytree(dataset["reference"], out)
    for lost in (0, 2):
        os.remove(out / shard_name(lost))
    os.remove(out / "cache.json")
    kept = os.stat(out / shard_name(1)).st_mtime_ns
    marker = tmp_path / "killed"
    monkeypatch.setenv(_KILL_ONCE_ENV, f"encode:{marker}")
    written = []
    kwargs = {"num_actors": 1, "vae_name": dataset["vae_dir"], "progress": False, **SETTINGS}
    encode_to_cache_ray(dataset["vae"], dataset["folder"], out, callback=lambda i, p: written.append(i), **kwargs)
    assert marker.exists(), "the test hook did not kill the actor"
    assert sorted(written) == [0, 2]
    assert os.stat(out / shard_name(1)).st_mtime_ns == kept
    _assert_same_cache(out, dataset["reference"])


def test_cli_engine_ray_with_a_writer_killed_mid_file(ray_cluster, dataset, tmp_path, monkeypatch):
    # The actor dies half-way through writing a shard's temporary file: the shard is never seen half written (the
    # retry writes it whole) and the temporary is removed before cache.json is written.
    marker = tmp_path / "killed"
    monkeypatch.setenv(_KILL_ONCE_ENV, f"write:{marker}")
    out = str(tmp_path / "cache")
    options = ["--shard-size", "3", "--batch-size", "2", "--resolution", "16", "--buckets", "16x16,16x24,24x16"]
    options += ["--crop", "random", "--flip", "--alpha-mask", "--store", "sample", "--store-dtype", "bfloat16"]
    options += ["--seed", "3", "--engine", "ray", "--actors", "1", "--model", dataset["vae_dir"]]
    assert cli.main(["encode", dataset["folder"], out, *options]) == 0
    assert marker.exists(), "the test hook did not kill the writer"
    _assert_same_cache(out, dataset["reference"])


def test_a_ray_dataset_of_paths(ray_cluster, dataset, tmp_path):
    import ray.data

    paths = sorted(os.path.join(dataset["folder"], name) for name in os.listdir(dataset["folder"]))
    rows = [{"file": path, "path": path} for path in paths]
    unordered = ray.data.from_items(rows)
    unordered.context.execution_options.preserve_order = False
    with pytest.raises(ValueError, match="preserve_order"):
        encode_to_cache_ray(dataset["vae"], unordered, tmp_path, image_column="file", **SETTINGS)
    with pytest.raises(ValueError, match="`image_column` must be a column"):
        encode_to_cache_ray(dataset["vae"], ray.data.from_items(rows), tmp_path, **SETTINGS)

    ordered = ray.data.from_items(rows)
    ordered.context.execution_options.preserve_order = True
    # one actor (each starts a process that imports torch): the number of actors is the first test's subject
    kwargs = {"num_actors": 1, "vae_name": dataset["vae_dir"], "progress": False, **SETTINGS}
    encode_to_cache_ray(dataset["vae"], ordered, tmp_path, image_column="file", **kwargs)
    _assert_same_cache(tmp_path, dataset["reference"])  # the same sources (the `path` column) and content hashes


def test_bad_arguments(dataset, tmp_path, capsys):
    assert cli.main(["encode", dataset["folder"], str(tmp_path), "--actors", "2"]) == 1
    assert "`--actors` is an option of `--engine ray`; got `--engine local`." in capsys.readouterr().err
    with pytest.raises(ValueError, match="`num_actors` must be a positive integer"):
        encode_to_cache_ray(dataset["vae"], dataset["folder"], tmp_path, num_actors=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shard_sise'"):
        encode_to_cache_ray(dataset["vae"], dataset["folder"], tmp_path, shard_sise=3)
