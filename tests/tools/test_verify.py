"""`verify_cache` and `diffusers-scaled verify`: a sound cache passes; each kind of damage names the bad shard."""

import json
import os

import pytest
from fixtures import tiny_vae_kl, write_image_folder
from safetensors import safe_open

from diffusers_scaled.cli import main
from diffusers_scaled.tools import encode_to_cache, verify_cache
from diffusers_scaled.tools.cache import shard_name


@pytest.fixture
def cache(tmp_path):
    folder = write_image_folder(str(tmp_path / "images"), n=5, sizes=((24, 20),))
    encode_to_cache(tiny_vae_kl(), folder, tmp_path / "cache", shard_size=2, resolution=16, flip=True, progress=False)
    return tmp_path / "cache"


def _data_offset(path) -> int:
    with open(path, "rb") as f:
        return 8 + int.from_bytes(f.read(8), "little")


def test_sound_cache(cache, capsys):
    report = verify_cache(cache)
    assert report.ok and report.num_shards == 3 and report.num_images == 5
    assert main(["verify", str(cache)]) == 0
    assert "3 shards, 5 images, all sound" in capsys.readouterr().out


def test_flipped_byte_is_named(cache, capsys):
    path = cache / shard_name(1)
    data = bytearray(path.read_bytes())
    data[_data_offset(path) + 5] ^= 0x40  # one bit of one tensor's data
    path.write_bytes(bytes(data))
    report = verify_cache(cache)
    assert list(report.problems) == [shard_name(1)] and "SHA-256" in report.problems[shard_name(1)][0]
    assert main(["verify", str(cache)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"diffusers-scaled verify: error: 1 bad file(s): {shard_name(1)}"


def test_truncated_missing_and_foreign_shards_are_named(cache):
    truncated = cache / shard_name(0)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    os.remove(cache / shard_name(2))
    report = verify_cache(cache)
    assert sorted(report.problems) == [shard_name(0), shard_name(2)]
    assert report.problems[shard_name(2)] == ["missing"]


def test_extra_tensor_and_wrong_header_are_named(cache):
    from safetensors.torch import load_file, save_file

    path = str(cache / shard_name(1))
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(path)
    tensors["extra"] = tensors[next(iter(tensors))].clone()
    save_file(tensors, path, metadata={**metadata, "store": json.dumps("mean")})
    problems = verify_cache(cache).problems[shard_name(1)]
    assert any("holds 5 tensors, its header lists 4" in p for p in problems)
    assert any("setting `store`" in p for p in problems)


def test_changed_source_is_reported(cache, tmp_path):
    source = sorted((tmp_path / "images").iterdir())[3]
    source.write_bytes(source.read_bytes() + b"\0")
    assert verify_cache(cache).ok
    report = verify_cache(cache, sources=True)
    assert list(report.problems) == [str(source)]


def test_not_a_cache(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no `cache.json`" in err
