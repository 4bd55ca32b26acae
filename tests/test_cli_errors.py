"""Command-line errors a newcomer meets in the first hour (issue 15): each is one line that names the argument and says
what to do, comes before any work, and leaves nothing behind. Every test runs the command in a subprocess, as a user
does (a test's commands that run in turn share one), with the small VAE that ships with the package and no network
(the Hub tests use `HF_HUB_OFFLINE=1` or an endpoint on this machine that refuses connections, and an empty Hugging
Face home)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from fixtures import default_sigint, write_image_folder


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, cwd, timeout=300, module=True, **env) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": os.path.join(cwd, "hf-home"),  # an empty cache
        **env,
    }
    return subprocess.run(
        [sys.executable, *(["-m", "diffusers_scaled.cli"] if module else []), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=timeout,
    )


# The console script's `main` once per command (a JSON list of argument lists) in one child process, each command's
# exit status, stdout and stderr captured at the file descriptors: one start-up (seconds of imports) for a test's
# commands that run in turn.
_COMMANDS = r"""
import json, os, sys, tempfile
from diffusers_scaled.cli import main
results = []
for arguments in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = main(arguments)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
        out.seek(0)
        err.seek(0)
        results.append([code, out.read().decode(), err.read().decode()])
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""


def clis(*commands: list[str], cwd) -> list[subprocess.CompletedProcess]:
    """`cli` for several commands run in turn, in one process."""
    report = os.path.join(cwd, ".clis.json")
    started = cli("-c", _COMMANDS, json.dumps(commands), report, cwd=cwd, module=False)
    assert started.returncode == 0, started.stderr
    with open(report) as f:
        results = json.load(f)
    os.remove(report)
    return [subprocess.CompletedProcess(c, code, out, err) for c, (code, out, err) in zip(commands, results)]


def one_line_error(result, command: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"diffusers-scaled {command}: error: "), lines[0]
    assert "Errno" not in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def test_hub_repo_not_cached_while_offline(tmp_path):
    line = one_line_error(cli("info", "--model", "stabilityai/sd-vae-ft-mse", cwd=tmp_path), "info")
    assert "`--model`" in line and "not in the local Hugging Face cache" in line and "HF_HUB_OFFLINE=1" in line
    assert "hf download stabilityai/sd-vae-ft-mse" in line
    assert "config.json" not in line  # what diffusers would have said


def test_unreachable_hub_fails_fast(tmp_path):
    # Port 9 (discard) on this machine: connections are refused at once, as they are without network. diffusers alone
    # retries with back-off for minutes.
    start = time.monotonic()
    result = cli(
        "info",
        "--model",
        "stabilityai/sd-vae-ft-mse",
        cwd=tmp_path,
        HF_HUB_OFFLINE="0",
        HF_ENDPOINT="http://127.0.0.1:9",
    )
    elapsed = time.monotonic() - start
    line = one_line_error(result, "info")
    assert "cannot be reached" in line and "http://127.0.0.1:9" in line
    assert elapsed < 60, elapsed  # the CLI's own start-up included, on a loaded machine


@pytest.mark.parametrize("model", ["./no_such_model", "no/such/model", "../elsewhere"])
def test_missing_model_path(tmp_path, model):
    line = one_line_error(cli("info", "--model", model, cwd=tmp_path), "info")
    assert f"`--model` is `{model}`, which does not exist" in line
    assert "hub" not in line.split("which does not exist")[0].lower()


def test_calibrate_on_one_batch_writes_null_not_nan(tmp_path):
    images = write_image_folder(str(tmp_path / "images"), n=2)
    result, text = clis(
        ["calibrate", images, "--json", "--output", "stats.json", "--no-preview"],
        ["calibrate", images, "--no-preview"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr

    def no_nan(value):
        raise AssertionError(f"not JSON: {value}")

    printed = json.loads(result.stdout[: result.stdout.rindex("}") + 1], parse_constant=no_nan)
    with open(tmp_path / "stats.json") as f:
        written = json.load(f, parse_constant=no_nan)
    assert printed["scaling_factor_ci95"] is None and written["scaling_factor_ci95"] is None
    assert printed["num_images"] == 2 and written["scaling_factor"] == printed["scaling_factor"]
    assert text.returncode == 0, text.stderr
    assert "needs at least two batches" in text.stdout and "nan" not in text.stdout.lower()


def test_encode_of_a_missing_folder_creates_nothing(tmp_path):
    line = one_line_error(cli("encode", "no_such_dir", "out_x", cwd=tmp_path), "encode")
    assert "`images`" in line and "no_such_dir" in line and "does not exist" in line
    assert not (tmp_path / "out_x").exists()


def test_missing_input_image(tmp_path):
    line = one_line_error(cli("roundtrip", "nope.jpg", cwd=tmp_path), "roundtrip")
    assert line.endswith("`image` is `nope.jpg`, which is missing: give an image file.")
    assert not (tmp_path / "roundtrip.png").exists()


def test_output_paths_of_the_wrong_kind(tmp_path):
    images = write_image_folder(str(tmp_path / "images"), n=2)
    (tmp_path / "a_file").write_text("x")
    line = one_line_error(cli("encode", images, "a_file", cwd=tmp_path), "encode")
    assert "`output_dir`" in line and "is a file" in line
    line = one_line_error(cli("roundtrip", "--output", "images", cwd=tmp_path), "roundtrip")
    assert "`--output` is `images`, which is a folder" in line
    line = one_line_error(cli("calibrate", images, "--write", "a_file", cwd=tmp_path), "calibrate")
    assert "`--write` is `a_file`, which is a file" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "images"]


def test_unusable_device(tmp_path):
    device = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    line = one_line_error(cli("info", "--device", device, cwd=tmp_path), "info")
    assert f"--device {device}: not usable here" in line and "--device cpu" in line


def test_resolution_that_is_not_a_multiple_of_the_scale_factor(tmp_path):
    images = write_image_folder(str(tmp_path / "images"), n=2)
    encode, calibrate = clis(
        ["encode", images, "out", "--resolution", "257"], ["calibrate", images, "--resolution", "257"], cwd=tmp_path
    )
    line = one_line_error(encode, "encode")
    # the embedded VAE's scale factor is 4
    assert "`--resolution` must be a multiple of the VAE's scale factor 4" in line and "Use 256 or 260" in line
    assert not (tmp_path / "out").exists()
    line = one_line_error(calibrate, "calibrate")
    assert "`--resolution` must be a multiple" in line


def test_raw_mismatch_is_readable(tmp_path):
    images = write_image_folder(str(tmp_path / "images"), n=2)
    first, result = clis(
        ["encode", images, "out", "--resolution", "64"],
        ["encode", images, "out", "--resolution", "64", "--raw"],
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert result.returncode == 1
    (message,) = [line for line in result.stderr.splitlines() if "error:" in line]
    assert "scaling: the cache has latents scaled with scaling_factor=" in message
    assert "this run raw latents (`--raw`)" in message
    assert "{" not in message and "None" not in message


def test_interrupted_encode_says_how_to_resume_and_the_resumed_run_counts_shards(tmp_path):
    images = write_image_folder(str(tmp_path / "images"), n=24)
    args = ("encode", images, "out", "--resolution", "64", "--shard-size", "2", "--batch-size", "2", "--workers", "0")
    environment = {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "diffusers_scaled.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        env=environment,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 240
    while process.poll() is None and not (tmp_path / "out" / "shard-00001.safetensors").exists():
        assert time.monotonic() < deadline, "no shard written"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    # a line of its own: the progress bar is closed first
    message = "diffusers-scaled: interrupted: the finished shards are kept; run the same command again to resume"
    assert message in err.splitlines(), err
    assert "Traceback" not in err
    kept = len(list((tmp_path / "out").glob("shard-*.safetensors")))
    assert 2 <= kept < 12
    resumed = cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {kept} finished shards in out" in resumed.stdout
    assert "24 images in 12 shards under out" in resumed.stdout
