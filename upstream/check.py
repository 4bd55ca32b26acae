"""Checks the upstream patch series against the pinned diffusers release, from PyPI, on a CPU-only machine.

1. downloads the pinned diffusers sdist from PyPI and checks its SHA-256, and extracts it once as the pristine tree;
2. bisectability: in one copy of the sdist, applies the patches of `upstream/patches/` one by one (`git apply
   --check`, then `git apply`) and, after each, runs the tests that patch adds or changes against that prefix of the
   series (diffusers imported from the copy's `src/`); after the last one, all the tests the series adds;
3. failing first: for each bug fix (a patch whose subject starts with "Fix", after an optional "[Area]" tag), applies
   only its test files to a copy of the pristine tree and runs them there: they must fail (pytest exit code 1, not a
   collection error), and their failures are printed;
4. runs ruff with diffusers' own settings (the sdist's pyproject.toml) on the files the series touches;
5. runs `upstream/tests/test_patched_equivalence.py`: the patched methods against `diffusers_scaled`, the patched
   pipelines' outputs against the pristine release's.

diffusers' tests load a tiny tokenizer from the Hub: `upstream/hub_cache.py` writes one into a temporary Hub cache.

Usage: `python upstream/check.py [--workdir DIR]` from the repository root; exits non-zero on the first failure.
Everything happens in a temporary folder (or DIR, kept for inspection), the temporary files of its steps (pytest's,
torch's compile caches) included; the environment's own diffusers is not touched. It needs the environment of the project's test command (torch, transformers, pytest, ruff) and PyPI.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time


DIFFUSERS_VERSION = "0.42.1"
# SHA-256 of diffusers-0.42.1.tar.gz as published on PyPI: the series is checked against exactly this source.
SDIST_SHA256 = "ce855ab670c8cd1c7a61be8f12fbc68c081bca8ec5e747273946d8d6c2aff23b"

UPSTREAM = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(UPSTREAM)
PATCHES = sorted(glob.glob(os.path.join(UPSTREAM, "patches", "*.patch")))

sys.path.insert(0, UPSTREAM)
import hub_cache  # noqa: E402


def step(message: str) -> None:
    print(f"::: {message}", flush=True)


def run(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> None:
    start = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, check=True)
    print(f"    ({time.monotonic() - start:.1f}s)", flush=True)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def touched_files(patches: list[str]) -> list[str]:
    """Paths the patches create or modify (the `+++ b/...` lines)."""
    paths = []
    for patch in patches:
        with open(patch, encoding="utf-8") as f:
            paths += re.findall(r"^\+\+\+ b/(\S+)$", f.read(), flags=re.M)
    return sorted(set(paths))


def test_files(patches: list[str]) -> list[str]:
    """diffusers test modules the patches create or modify."""
    return [path for path in touched_files(patches) if re.match(r"tests/.*test_[^/]*\.py$", path)]


def subject(patch: str) -> str:
    with open(patch, encoding="utf-8") as f:
        match = re.search(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n [^\n]*)*)", f.read(), flags=re.M)
    return " ".join(match.group(1).split()) if match else os.path.basename(patch)


def is_bug_fix(patch: str) -> bool:
    """A bug fix's subject starts with "Fix", after an optional "[Area]" tag: "[Modular] Fix the ..."."""
    return re.match(r"(\[[^\]]+\] )?Fix\b", subject(patch)) is not None


def download_sdist(workdir: str) -> str:
    step(f"download diffusers=={DIFFUSERS_VERSION} sdist from PyPI")
    run(
        [sys.executable, "-m", "pip", "download", f"diffusers=={DIFFUSERS_VERSION}"]
        + ["--no-binary", ":all:", "--no-deps", "-q", "-d", workdir]
    )
    (sdist,) = glob.glob(os.path.join(workdir, f"diffusers-{DIFFUSERS_VERSION}.tar.gz"))
    if sha256(sdist) != SDIST_SHA256:
        raise SystemExit(f"{sdist} has SHA-256 {sha256(sdist)}, expected {SDIST_SHA256}.")
    return sdist


def extract(sdist: str, destination: str) -> str:
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extractall(destination, filter="data")
        else:  # pragma: no cover - the archive's SHA-256 was checked
            tar.extractall(destination)
    return os.path.join(destination, f"diffusers-{DIFFUSERS_VERSION}")


def copy_tree(source: str, destination: str) -> str:
    shutil.copytree(source, destination)
    # A repository of its own, so that `git apply` takes paths relative to the tree wherever the workdir is.
    run(["git", "init", "-q"], cwd=destination)
    return destination


def basetemp() -> str:
    """pytest's option for its temporary folders: in this run's $TMPDIR (see `keep_temporary_files_in`), not in
    `pytest-of-<user>` folders that pytest keeps after the run."""
    return "--basetemp=" + os.path.join(tempfile.gettempdir(), "pytest")


def pytest(tree: str, tests: list[str], env: dict, *options: str) -> int:
    """Runs diffusers test modules of `tree` against the diffusers of `tree/src`; returns pytest's exit code."""
    # diffusers' tests are a package (`from ..testing_utils import ...`); the sdist ships tests/testing_utils.py
    # without the __init__.py files of the repository.
    for folder in {os.path.dirname(path) for path in tests} | {"tests"}:
        while folder:
            open(os.path.join(tree, folder, "__init__.py"), "a").close()
            folder = os.path.dirname(folder)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", tree, basetemp(), *options]
    cmd += tests
    start = time.monotonic()
    returncode = subprocess.run(cmd, cwd=tree, env=dict(env, PYTHONPATH=os.path.join(tree, "src"))).returncode
    print(f"    ({time.monotonic() - start:.1f}s)", flush=True)
    return returncode


def check_prefixes(pristine: str, series_tree: str, env: dict) -> None:
    """Applies the patches one by one to `series_tree` and runs each patch's own tests on that prefix; with the last
    patch applied, runs all the series' tests (so that no patch breaks the tests of an earlier one)."""
    copy_tree(pristine, series_tree)
    for number, patch in enumerate(PATCHES, 1):
        name = os.path.relpath(patch, ROOT)
        step(f"prefix {number}/{len(PATCHES)}: git apply --check {name}")
        run(["git", "apply", "--check", patch], cwd=series_tree)
        run(["git", "apply", patch], cwd=series_tree)
        tests = test_files(PATCHES if number == len(PATCHES) else [patch])
        if not tests:
            print("    no tests of its own", flush=True)
            continue
        what = "all the series' tests" if number == len(PATCHES) else "its tests"
        step(f"prefix {number}/{len(PATCHES)}: {what}: {', '.join(tests)}")
        if pytest(series_tree, tests, env) != 0:
            raise SystemExit(f"{what[0].upper() + what[1:]} fail with patches 1-{number} applied.")


def check_fixes_fail_first(pristine: str, unfixed_tree: str, env: dict) -> None:
    """Runs each bug fix's tests on the pristine release (with the test files of the bug fixes only): they must
    fail."""
    fixes = [patch for patch in PATCHES if is_bug_fix(patch)]
    copy_tree(pristine, unfixed_tree)
    for patch in fixes:
        if not test_files([patch]):
            raise SystemExit(f"{os.path.relpath(patch, ROOT)} is a bug fix without a test.")
        run(["git", "apply", "--include=tests/*", patch], cwd=unfixed_tree)
    for patch in fixes:
        name = os.path.relpath(patch, ROOT)
        step(f"without its fix, the tests of {name} must fail on the pristine release:")
        returncode = pytest(unfixed_tree, test_files([patch]), env, "--tb=line", "-rfE")
        if returncode != 1:
            raise SystemExit(
                f"The tests of bug fix {name} must fail (pytest exit code 1) on the pristine release, without the "
                f"fix; pytest exited with {returncode}."
            )
        step(f"ok: the tests of {name} fail without its fix")


def keep_temporary_files_in(workdir: str) -> None:
    """Sends what this process and its children write to temporary places into `workdir`, removed with it: $TMPDIR
    (torch makes `torchinductor_<user>` there as soon as diffusers is imported, the tiny tokenizer is written there),
    torch's compile caches (by default `$TMPDIR/torchinductor_<user>` and `~/.triton`); `pytest` gives each run a
    `--basetemp` in it too (pytest keeps its `pytest-of-<user>` folders by design)."""
    temp = os.path.join(workdir, "tmp")
    os.makedirs(temp, exist_ok=True)
    os.environ.update(
        TMPDIR=temp,
        TORCHINDUCTOR_CACHE_DIR=os.path.join(workdir, "cache", "inductor"),
        TRITON_CACHE_DIR=os.path.join(workdir, "cache", "triton"),
    )
    tempfile.tempdir = temp  # this process computed its temporary folder already (for `workdir`)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="work in this (new or empty) folder and keep it, instead of a temporary one")
    args = parser.parse_args()
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="diffusers-upstream-check-")
    os.makedirs(workdir, exist_ok=True)
    keep_temporary_files_in(workdir)
    start = time.monotonic()
    try:
        if not PATCHES:
            raise SystemExit(f"No patches in {os.path.join(UPSTREAM, 'patches')}.")
        sdist = download_sdist(workdir)
        stock_tree = extract(sdist, os.path.join(workdir, "stock"))
        hub = os.path.join(workdir, "hub")
        hub_cache.populate(hub)
        # Bytecode is cached inside the (temporary) diffusers trees: each later run in a tree compiles only what changed.
        env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        env.update(HF_HUB_CACHE=hub, HF_HUB_OFFLINE="1")

        patched_tree = os.path.join(workdir, "patched")
        check_prefixes(stock_tree, patched_tree, env)
        check_fixes_fail_first(stock_tree, os.path.join(workdir, "unfixed"), env)

        step("ruff with diffusers' settings on the files the series touches")
        python_files = [path for path in touched_files(PATCHES) if path.endswith(".py")]
        run([sys.executable, "-m", "ruff", "check", *python_files], cwd=patched_tree)
        run([sys.executable, "-m", "ruff", "format", "--check", *python_files], cwd=patched_tree)

        step("equivalence: patched release vs diffusers_scaled and vs the pristine release")
        patched_src, stock_src = os.path.join(patched_tree, "src"), os.path.join(stock_tree, "src")
        run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", basetemp(), "upstream/tests"],
            cwd=ROOT,
            env=dict(
                env,
                PYTHONPATH=os.pathsep.join([patched_src, ROOT]),
                DIFFUSERS_STOCK_PATH=stock_src,
                PYTHONDONTWRITEBYTECODE="1",  # nothing written into the repository
            ),
        )
        step(f"upstream check passed in {time.monotonic() - start:.0f}s")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
