"""Both commands under `accelerate launch` with 2 CPU processes (gloo) give exactly the single-process results (one
launch runs both commands in turn, as the console script would)."""

import json
import socket
import subprocess
import sys

import torch
from _compare import file_hashes, shard_contents
from diffusers import AutoencoderKL
from fixtures import launcher_env, tiny_vae_kl, write_image_folder

from diffusers_scaled.tools import calibrate, encode_to_cache


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The console script's `main`, once per command, in the same launched processes: one launch (three processes that
# import torch, ~10 s on two cores) serves both commands.
_COMMANDS = r"""
import json, sys
from diffusers_scaled.cli import main
for arguments in json.loads(sys.argv[1]):
    if main(arguments) != 0:
        sys.exit(1)
"""


def _launch(tmp_path, *commands: list[str]):
    script = tmp_path / "commands.py"
    script.write_text(_COMMANDS)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(_free_port()), str(script), json.dumps(commands)]
    with launcher_env() as env:
        result = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_processes_equal_one(tmp_path):
    # The launched processes run with one thread each; so does the reference (CPU convolutions may round differently
    # with another thread count).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_two_processes_equal_one(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _check_two_processes_equal_one(tmp_path):
    # 7 images in batches of 2: 4 batches, the last short and the second round half empty.
    folder = write_image_folder(str(tmp_path / "images"), n=7, sizes=((24, 24), (20, 28)))
    vae_dir = str(tmp_path / "vae")
    tiny_vae_kl().save_pretrained(vae_dir)
    vae = AutoencoderKL.from_pretrained(vae_dir)

    _launch(
        tmp_path,
        ["calibrate", folder, "--model", vae_dir, "--batch-size", "2", "--resolution", "16",
         "--output", str(tmp_path / "two.json")],
        ["encode", folder, str(tmp_path / "cache_two"), "--model", vae_dir, "--shard-size", "2", "--batch-size", "1",
         "--resolution", "16"],
    )  # fmt: skip
    single = calibrate(vae, folder, batch_size=2, resolution=16, progress=False)
    two = json.loads((tmp_path / "two.json").read_text())
    one = json.loads(json.dumps(single.to_dict()))
    one["vae"]["name"] = two["vae"]["name"]
    assert two == one  # floats compared exactly: JSON keeps every bit of a float64

    encode_to_cache(vae, folder, tmp_path / "cache_one", shard_size=2, batch_size=1, resolution=16,
                    vae_name=vae_dir, progress=False)  # fmt: skip
    assert shard_contents(tmp_path / "cache_two") == shard_contents(tmp_path / "cache_one")
    assert file_hashes(tmp_path / "cache_two") == file_hashes(tmp_path / "cache_one")  # byte-identical files
    index_one = json.loads((tmp_path / "cache_one" / "cache.json").read_text())
    assert json.loads((tmp_path / "cache_two" / "cache.json").read_text()) == index_one
