import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch
from _compare import file_hashes, shard_contents
from diffusers.image_processor import VaeImageProcessor
from fixtures import make_pil_images, tiny_vae_kl, write_image_folder
from safetensors import safe_open

from diffusers_scaled import LatentScaling
from diffusers_scaled.tools import encode_to_cache, load_cache, sample_from_distribution, verify_cache
from diffusers_scaled.tools.cache import shard_name
from diffusers_scaled.vae_codec import VaeCodec


def test_cache_content_and_metadata(tmp_path):
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=5, sizes=((20, 24),))
    index = encode_to_cache(vae, folder, tmp_path / "cache", shard_size=2, batch_size=2, resolution=16, progress=False)
    assert index["shards"] == [shard_name(i) for i in range(3)] and index["num_images"] == 5
    entries = list(load_cache(tmp_path / "cache"))
    assert [e["index"] for e, _ in entries] == list(range(5))
    assert [e["source"] for e, _ in entries] == sorted(os.path.join(folder, f) for f in os.listdir(folder))
    # (height, width), diffusers' order: the images are 20 wide and 24 high
    assert all(e["original_size"] == [24, 20] and e["latent_shape"] == [4, 8, 8] for e, _ in entries)
    assert all(e["target_size"] == [16, 16] and e["resized_size"] == [19, 16] for e, _ in entries)
    with safe_open(str(tmp_path / "cache" / shard_name(0)), framework="pt") as f:
        metadata = {k: json.loads(v) for k, v in f.metadata().items()}
    assert metadata["scaling"] == {"scaling_factor": vae.config.scaling_factor}
    assert metadata["vae"]["class"] == "AutoencoderKL" and len(metadata["vae"]["weights_sha256"]) == 64
    assert metadata["resolution"] == 16 and metadata["store"] == "sample"

    # The stored latents are the library's encode_latents arithmetic: raw cache scaled by LatentScaling is the
    # scaled cache, bitwise.
    encode_to_cache(
        vae, folder, tmp_path / "raw", shard_size=2, batch_size=2, resolution=16, raw_latents=True, progress=False
    )
    scaling = LatentScaling.from_config(vae.config)
    for (_, scaled), (_, raw) in zip(entries, load_cache(tmp_path / "raw")):
        assert torch.equal(scaled, scaling.scale(raw))


def test_same_settings_give_the_same_bytes(tmp_path):
    # safetensors writes its header's metadata in hash-map order, different at each call: without ordering it, the
    # shards of two identical runs would hold the same tensors and metadata in different bytes.
    vae = tiny_vae_kl()
    images = make_pil_images(5, seed=2)
    kwargs = {"shard_size": 2, "batch_size": 2, "resolution": 16, "progress": False}
    encode_to_cache(vae, images, tmp_path / "one", **kwargs)
    encode_to_cache(vae, images, tmp_path / "two", **kwargs)
    hashes = file_hashes(tmp_path / "one")
    assert sorted(hashes) == ["cache.json"] + [shard_name(i) for i in range(3)]
    assert file_hashes(tmp_path / "two") == hashes
    assert shard_contents(tmp_path / "one") == shard_contents(
        tmp_path / "two"
    )  # and what they hold reads back the same
    raw = (tmp_path / "one" / shard_name(0)).read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])  # the header as written, in key order


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_shard_is_named_and_the_same_encode_repairs_it(tmp_path, damage):
    vae = tiny_vae_kl()
    images = make_pil_images(5, seed=3)
    kwargs = {"shard_size": 2, "batch_size": 2, "resolution": 16, "progress": False}
    encode_to_cache(vae, images, tmp_path, **kwargs)
    reference = shard_contents(tmp_path)
    shard = tmp_path / shard_name(1)
    data = shard.read_bytes()
    # cut short (a full disk, an interrupted copy), or another file in its place
    shard.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a shard")
    with pytest.raises(ValueError, match=re.escape(f"`{shard}` is damaged") + ".*Run the same `encode` again"):
        list(load_cache(tmp_path))
    encode_to_cache(vae, images, tmp_path, **kwargs)
    assert shard_contents(tmp_path) == reference
    assert len(list(load_cache(tmp_path))) == 5


def folder_with_a_broken_image(folder, n=5) -> tuple[str, str]:
    """`n` good images and, third in sorted order, a file with an image name that is not an image."""
    folder = write_image_folder(folder, n=n, sizes=((20, 24),))
    names = sorted(os.listdir(folder))
    broken = os.path.join(folder, names[1] + "-broken.png")  # sorts right after the second image
    with open(broken, "wb") as f:
        f.write(b"not an image")
    return folder, broken


def test_an_unreadable_image_is_named_or_skipped_and_recorded(tmp_path, caplog):
    folder, broken = folder_with_a_broken_image(str(tmp_path / "images"))
    kwargs = {"shard_size": 2, "batch_size": 2, "resolution": 16, "progress": False}
    with pytest.raises(ValueError, match=re.escape(f"Cannot read the image file `{broken}`") + ".*skip_bad_images"):
        encode_to_cache(tiny_vae_kl(), folder, tmp_path / "stopped", **kwargs)

    with caplog.at_level("WARNING", logger="diffusers_scaled.tools"):
        index = encode_to_cache(tiny_vae_kl(), folder, tmp_path / "cache", skip_bad_images=True, **kwargs)
    assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()] == [
        f"skipped `{broken}`, which cannot be read (UnidentifiedImageError: cannot identify image file '{broken}')"
    ]
    assert index["num_images"] == 6 and [(e["index"], e["source"]) for e in index["skipped"]] == [(2, broken)]
    assert json.loads((tmp_path / "cache" / "cache.json").read_text())["skipped"] == index["skipped"]
    entries = [entry for entry, _ in load_cache(tmp_path / "cache")]
    assert [e["index"] for e in entries] == [0, 1, 3, 4, 5]  # the others keep their indices
    assert broken not in [e["source"] for e in entries]

    # Resuming finds every shard complete, the one with the skipped image included: nothing is written again.
    written = []
    encode_to_cache(tiny_vae_kl(), folder, tmp_path / "cache", skip_bad_images=True, callback=written.append, **kwargs)
    assert written == []


def test_an_image_cut_short_is_skipped_in_buckets_and_appended_once_repaired(tmp_path, caplog):
    # Its header reads (so it gets a bucket) but its pixels do not: skipped where the bucket's batch is read, the
    # others encoded as without it; `append` leaves it skipped until the file changes, then encodes it.
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=5, sizes=((40, 24), (24, 40)))
    kwargs = {"shard_size": 3, "batch_size": 2, "resolution": 16, "buckets": [(12, 20), (20, 12)], "progress": False}
    encode_to_cache(vae, folder, tmp_path / "whole", **kwargs)
    whole = {e["source"]: t for e, t in load_cache(tmp_path / "whole")}
    cut = os.path.join(folder, "img_001.png")
    data = open(cut, "rb").read()
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(f"Cannot read the image file `{cut}`")):
        encode_to_cache(vae, folder, tmp_path / "stopped", **kwargs)
    with caplog.at_level("WARNING", logger="diffusers_scaled.tools"):
        index = encode_to_cache(vae, folder, tmp_path / "cache", skip_bad_images=True, **kwargs)
    assert [(e["index"], e["source"]) for e in index["skipped"]] == [(1, cut)]
    assert [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()][0].startswith(f"skipped `{cut}`")
    entries = list(load_cache(tmp_path / "cache"))
    assert [e["index"] for e, _ in entries] == [0, 2, 3, 4]
    # It was alone in its bucket in its shard, and a batch's generator is seeded by its first image's index: the
    # other images' latents are bitwise those of the cache without the damage.
    assert all(torch.equal(t, whole[e["source"]]) for e, t in entries)

    written = []
    append = {"append": True, "skip_bad_images": True, "callback": lambda i, p: written.append(i)}
    encode_to_cache(vae, folder, tmp_path / "cache", **append, **kwargs)
    assert written == []  # still the same cut file: still skipped, nothing new
    with open(cut, "wb") as f:
        f.write(data)
    index = encode_to_cache(vae, folder, tmp_path / "cache", **append, **kwargs)
    assert written == [2] and index["num_images"] == 6 and [e["index"] for e in index["skipped"]] == [1]
    assert [e["source"] for e, _ in load_cache(tmp_path / "cache")][-1] == cut
    report = verify_cache(tmp_path / "cache")
    assert report.ok and (report.num_images, report.num_skipped) == (5, 1)
    index_file = tmp_path / "cache" / "cache.json"
    index_file.write_text(json.dumps({**index, "skipped": []}))
    assert verify_cache(tmp_path / "cache").problems == {
        "cache.json": ["its `skipped` list is not the shards' skipped images"]
    }


def test_other_settings_are_refused(tmp_path):
    images = make_pil_images(3)
    encode_to_cache(tiny_vae_kl(), images, tmp_path, shard_size=2, resolution=16, progress=False)
    with pytest.raises(ValueError, match="resolution"):
        encode_to_cache(tiny_vae_kl(), images, tmp_path, shard_size=2, resolution=32, progress=False)
    with pytest.raises(ValueError, match="vae"):
        encode_to_cache(tiny_vae_kl(latent_channels=2), images, tmp_path, shard_size=2, resolution=16, progress=False)


def test_a_per_channel_scaling_resumes(tmp_path):
    # The settings hold the scaling as `LatentScaling.to_dict()` (lists), as the shards' JSON metadata reads back, so
    # a second run with the same per-channel scaling finds every shard done instead of calling the settings different.
    vae = tiny_vae_kl()
    vae.register_to_config(latents_mean=[0.1, -0.2, 0.3, 0.05], latents_std=[1.5, 0.8, 1.2, 0.9])
    images = make_pil_images(3)
    kwargs = {"shard_size": 2, "resolution": 16, "progress": False}
    first = encode_to_cache(vae, images, tmp_path, **kwargs)
    assert first["scaling"]["latents_mean"] == [0.1, -0.2, 0.3, 0.05]
    written = []
    encode_to_cache(vae, images, tmp_path, callback=lambda i, path: written.append(i), **kwargs)
    assert written == []


def test_injected_failures_lose_and_duplicate_nothing(tmp_path):
    vae = tiny_vae_kl()
    images = make_pil_images(7, seed=4)
    kwargs = {"shard_size": 2, "batch_size": 2, "resolution": 16, "progress": False}
    encode_to_cache(vae, images, tmp_path / "reference", **kwargs)
    reference = shard_contents(tmp_path / "reference")

    class Stop(Exception):
        pass

    for run in range(3):  # three runs, each stopped right after it wrote one shard
        written = []

        def callback(index, path):
            written.append(index)
            raise Stop

        with pytest.raises(Stop):
            encode_to_cache(vae, images, tmp_path / "resumed", callback=callback, **kwargs)
        # each run skipped the shards of the runs before it and wrote the next one
        assert written == [run] and len(shard_contents(tmp_path / "resumed")) == run + 1
    written = []
    encode_to_cache(vae, images, tmp_path / "resumed", callback=lambda i, p: written.append(i), **kwargs)
    assert written == [3]
    assert shard_contents(tmp_path / "resumed") == reference
    assert len(list(load_cache(tmp_path / "resumed"))) == 7


def test_killed_process_resumes_to_the_same_cache(tmp_path):
    """A real `diffusers-scaled encode` process killed with SIGKILL mid-run, then the same run again to the end."""
    from diffusers import AutoencoderKL

    folder = write_image_folder(str(tmp_path / "images"), n=12, sizes=((32, 32),))
    vae_dir = str(tmp_path / "vae")
    tiny_vae_kl().save_pretrained(vae_dir)
    settings = {"shard_size": 2, "batch_size": 1, "resolution": 32, "vae_name": vae_dir, "progress": False}
    vae = AutoencoderKL.from_pretrained(vae_dir)
    encode_to_cache(vae, folder, tmp_path / "reference", **settings)
    reference = shard_contents(tmp_path / "reference")
    assert len(reference) == 6

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "diffusers_scaled.cli", "encode", folder, str(out), "--model", vae_dir]
    command += ["--shard-size", "2", "--batch-size", "1", "--resolution", "32"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and len(shard_contents(out) if out.exists() else {}) < 2:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = shard_contents(out)
    assert 2 <= len(partial) < 6, "the process was not killed mid-run"
    assert all(partial[name] == reference[name] for name in partial)  # what exists is complete and right
    written = []
    encode_to_cache(vae, folder, out, callback=lambda i, p: written.append(i), **settings)
    assert written == [i for i in range(6) if shard_name(i) not in partial]
    assert shard_contents(out) == reference
    assert not [n for n in os.listdir(out) if ".tmp-" in n]


# --- format 2: buckets, variants, stores, dtypes, append -------------------------------------------------------------


def _fitted(image, entry):
    """The image as encoded, rebuilt from the entry's placement with plain PIL calls."""
    (height, width), (top, left), (th, tw) = entry["resized_size"], entry["crop_top_left"], entry["target_size"]
    return image.resize((width, height), PIL.Image.BICUBIC).crop((left, top, left + tw, top + th))


def test_variants_are_the_encodings_of_the_variant_images(tmp_path):
    """Flipped latents are the encoding of the flipped image; `distribution` stores the stock posterior's mean and
    log-variance exactly; a sample drawn from them is the stock sample; bfloat16 storage is the cast of float32."""
    vae = tiny_vae_kl()
    images = make_pil_images(3, (40, 24), seed=1) + make_pil_images(2, (24, 40), seed=2)
    kwargs = {"shard_size": 4, "batch_size": 2, "resolution": 16, "buckets": [(12, 20), (20, 12)], "progress": False}
    encode_to_cache(vae, images, tmp_path / "sample", flip=True, **kwargs)
    encode_to_cache(vae, images, tmp_path / "dist", flip=True, store="distribution", **kwargs)
    encode_to_cache(vae, images, tmp_path / "bf16", flip=True, store="distribution", dtype=torch.bfloat16, **kwargs)

    processor = VaeImageProcessor(vae_scale_factor=2)
    dist = list(load_cache(tmp_path / "dist", all_tensors=True))
    bf16 = list(load_cache(tmp_path / "bf16", all_tensors=True))
    sample = list(load_cache(tmp_path / "sample", all_tensors=True))
    codec = VaeCodec(vae)
    # Within a shard the images are batched by bucket: shard 0 holds 0 1 2 (12x20) and 3 (20x12), shard 1 holds 4.
    for batch in ([0, 1], [2], [3], [4]):
        fitted = [_fitted(images[i], dist[i][0]) for i in batch]
        mirrored = [PIL.ImageOps.mirror(f) for f in fitted]
        for role, logvar, pictures in (("latents", "logvar", fitted), ("flipped", "flipped_logvar", mirrored)):
            with torch.no_grad():
                posterior = vae.encode(processor.preprocess(pictures)).latent_dist  # the stock path
            drawn = posterior.sample(torch.Generator().manual_seed(9))
            mean = torch.stack([dist[i][1][role] for i in batch])
            log_variance = torch.stack([dist[i][1][logvar] for i in batch])
            assert torch.equal(mean, posterior.mean) and torch.equal(log_variance, posterior.logvar)
            assert torch.equal(sample_from_distribution(mean, log_variance, torch.Generator().manual_seed(9)), drawn)
        for i in batch:
            for role, tensor in dist[i][1].items():
                assert bf16[i][1][role].dtype == torch.bfloat16 and torch.equal(bf16[i][1][role], tensor.bfloat16())

        # `sample`: the generator of the batch's first image draws the originals, then the flipped images
        generator = torch.Generator().manual_seed(0 * 1_000_003 + batch[0])
        with torch.no_grad():
            plain = codec.encode_latents(fitted, generator=generator)
            flipped = codec.encode_latents(mirrored, generator=generator)
        for k, i in enumerate(batch):
            assert torch.equal(sample[i][1]["latents"], plain[k]) and torch.equal(sample[i][1]["flipped"], flipped[k])


def test_alpha_mask_is_the_alpha_at_latent_resolution(tmp_path):
    rgba = []
    for k, image in enumerate(make_pil_images(2, (24, 24), seed=3)):
        alpha = np.zeros((24, 24), dtype=np.uint8)
        alpha[4 + k : 17, 2:20] = 255
        alpha[:3, :] = 77
        rgba.append(PIL.Image.fromarray(np.dstack([np.asarray(image), alpha])))
    rgba.append(make_pil_images(1, (24, 24), seed=4)[0])  # no alpha: fully opaque
    encode_to_cache(tiny_vae_kl(), rgba, tmp_path, resolution=16, alpha_mask=True, progress=False)
    for (entry, tensors), image in zip(load_cache(tmp_path, all_tensors=True), rgba):
        alpha = _fitted(image.convert("RGBA"), entry).getchannel("A")
        blocks = np.asarray(alpha, dtype=np.float64).reshape(8, 2, 8, 2).mean(axis=(1, 3)) / 255
        # float32 block means against float64 ones: equal to float32 rounding
        np.testing.assert_allclose(tensors["alpha_mask"].numpy(), blocks, rtol=0, atol=1e-6)
    assert tensors["alpha_mask"].min() == tensors["alpha_mask"].max() == 1  # the opaque image


def test_append_encodes_only_new_images(tmp_path):
    vae = tiny_vae_kl()
    folder = write_image_folder(str(tmp_path / "images"), n=5, sizes=((20, 24),))
    kwargs = {"shard_size": 2, "batch_size": 2, "resolution": 16, "progress": False}
    encode_to_cache(vae, folder, tmp_path / "cache", **kwargs)
    before = shard_contents(tmp_path / "cache")
    make_pil_images(1, (24, 20), seed=50)[0].save(os.path.join(folder, "img_000a.png"))  # sorts among the old ones
    make_pil_images(1, (24, 20), seed=51)[0].save(os.path.join(folder, "zzz.png"))
    written = []
    index = encode_to_cache(
        vae, folder, tmp_path / "cache", append=True, callback=lambda i, p: written.append(i), **kwargs
    )
    assert written == [3] and index["num_images"] == 7 and len(index["shards"]) == 4
    after = shard_contents(tmp_path / "cache")
    assert all(after[name] == before[name] for name in before)  # old shards untouched
    entries = [entry for entry, _ in load_cache(tmp_path / "cache")]
    assert [e["index"] for e in entries] == list(range(7))
    assert [os.path.basename(e["source"]) for e in entries[5:]] == ["img_000a.png", "zzz.png"]
    # nothing new: nothing written
    written.clear()
    encode_to_cache(vae, folder, tmp_path / "cache", append=True, callback=lambda i, p: written.append(i), **kwargs)
    assert written == [] and json.loads((tmp_path / "cache" / "cache.json").read_text())["num_images"] == 7
    with pytest.raises(ValueError, match="store"):
        encode_to_cache(vae, folder, tmp_path / "cache", append=True, store="mean", **kwargs)
    with pytest.raises(FileNotFoundError, match="no `cache.json`"):
        encode_to_cache(vae, folder, tmp_path / "empty", append=True, **kwargs)


def test_changed_settings_are_refused(tmp_path):
    vae = tiny_vae_kl()
    images = make_pil_images(2, (24, 20))
    kwargs = {"resolution": 16, "progress": False}
    encode_to_cache(vae, images, tmp_path, **kwargs)
    for change, key in (({"buckets": "sdxl", "step": 8}, "buckets"), ({"flip": True}, "flip"),
                        ({"dtype": "float16"}, "dtype"), ({"crop": "random"}, "crop")):  # fmt: skip
        with pytest.raises(ValueError, match=key):
            encode_to_cache(vae, images, tmp_path, **kwargs, **change)


def test_bad_cache_arguments(tmp_path):
    vae, images = tiny_vae_kl(), make_pil_images(1)
    for kwargs, message in (
        ({"store": "median"}, "`store` must be one of"),
        ({"store": "sample", "sample_mode": "argmax"}, "contradicts"),
        ({"dtype": "int8"}, "`dtype` must be one of"),
        ({"buckets": [(15, 16)]}, "multiple of the VAE's scale factor 2"),
        ({"buckets": "square"}, '`buckets` must be "sdxl", "generate"'),
        ({"buckets": "sdxl", "resolution": None}, "`buckets` needs a `resolution`"),
        ({"crop": "left"}, "crop"),
    ):
        with pytest.raises(ValueError, match=message):
            encode_to_cache(vae, images, tmp_path, progress=False, **kwargs)


def test_format_1_cache_is_refused_by_the_training_reader(tmp_path):
    from diffusers_scaled.tools import LatentCacheDataset

    (tmp_path / "cache.json").write_text(json.dumps({"format": "diffusers-scaled-latent-cache/1", "shards": []}))
    with pytest.raises(ValueError, match="format-1 latent cache"):
        LatentCacheDataset(tmp_path)


def test_distribution_needs_a_gaussian_posterior(tmp_path):
    from fixtures import tiny_vae_tiny

    with pytest.raises(ValueError, match="needs a VAE with a Gaussian posterior"):
        encode_to_cache(
            tiny_vae_tiny(), make_pil_images(1), tmp_path, resolution=16, store="distribution", progress=False
        )
