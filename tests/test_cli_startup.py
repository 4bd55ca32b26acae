"""The command line starts fast and quietly: `--help` and `--version` import neither torch nor diffusers, and Ctrl-C
while a command is still starting up prints one line, not a traceback. Each test runs the CLI in a subprocess, as a
user does."""

import os
import signal
import subprocess
import sys
import time

import pytest
from fixtures import default_sigint

import diffusers_scaled
from diffusers_scaled.cli import COMMANDS


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "HF_HUB_OFFLINE": "1"}
HEAVY = ("torch", "diffusers", "transformers", "numpy", "PIL", "accelerate")
# Runs the CLI's `main` as the console script does, then reports which heavy modules it imported.
REPORT = """
import sys
from diffusers_scaled.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "diffusers_scaled.cli", *args], capture_output=True, text=True, env=ENV, **kwargs
    )


@pytest.mark.parametrize("args", [["--help"], ["--version"], *[[name, "--help"] for name in COMMANDS]])
def test_help_and_version_import_nothing_heavy_and_print_no_notice(args):
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(heavy=HEAVY), *args], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "HEAVY:\n"  # no transformers notice, no warning, and none of the heavy modules
    assert "usage: diffusers-scaled" in result.stdout or "diffusers-scaled " in result.stdout


@pytest.mark.parametrize(
    "args, error",
    [
        *[(command + ["--model", "./missing"], "`--model` is `./missing`, which does not exist") for command in (
            ["info"], ["roundtrip"], ["calibrate", "images"], ["encode", "images", "out"]
        )],
        (["roundtrip", "nope.jpg"], "`image` is `nope.jpg`, which is missing"),
        (["calibrate", "images", "--write", "a_file"], "`--write` is `a_file`, which is a file"),
    ],
    ids=["info", "roundtrip", "calibrate", "encode", "roundtrip-image", "calibrate-write"],
)  # fmt: skip
def test_argument_errors_come_before_torch_is_imported(args, error, tmp_path):
    # Issue 15: `info --model ./missing` paid ~6 s of imports (torch, diffusers) before its one-line error.
    (tmp_path / "a_file").write_text("x")
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=120,
    )
    message, heavy = result.stderr.splitlines()
    assert message.startswith(f"diffusers-scaled {args[0]}: error: {error}"), message
    assert heavy == "HEAVY:"  # the error came before any heavy import
    assert os.listdir(tmp_path) == ["a_file"]  # nothing created (`encode`'s output folder)


def test_help_takes_under_a_second():
    # The acceptance bar of issue 15, best of three (the first run may pay for cold caches). docs/cli.md has the figures.
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = cli("--help", timeout=60)
        times.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stderr
    assert min(times) < 1.0, times


def test_version():
    result = cli("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"diffusers-scaled {diffusers_scaled.__version__}"


def loaded_torch(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as f:
        return any("libtorch" in line for line in f)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps to see torch being loaded")
def test_ctrl_c_while_starting_prints_interrupted():
    # SIGINT as soon as the process maps torch's library, i.e. in the middle of the command's heavy imports.
    process = subprocess.Popen(
        [sys.executable, "-m", "diffusers_scaled.cli", "roundtrip"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while process.poll() is None and not loaded_torch(process.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the command ended before it imported torch"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "diffusers-scaled: interrupted"
