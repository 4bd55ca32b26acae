"""Checks the upstream patch series against the pinned diffusers release, from PyPI, on a CPU-only machine.

1. downloads the pinned diffusers sdist from PyPI and checks its SHA-256;
2. `git apply --check`s, then applies, each patch of `upstream/patches/` in order, on a copy of the sdist;
3. runs ruff with diffusers' own settings (the sdist's pyproject.toml) on the files the series touches;
4. installs the pristine and the patched release into two temporary folders (`pip install --no-deps --target`);
5. runs (a) the tests the series adds, against the patched release, with the tiny tokenizer those tests load from
   the Hub written into a temporary Hub cache (`upstream/hub_cache.py`), and (b) `upstream/tests/
   test_patched_equivalence.py`: the patched methods against `diffusers_scaled`, the patched pipelines' outputs
   against the pristine release's.

Usage: `python upstream/check.py [--workdir DIR]` from the repository root; exits non-zero on the first failure.
Everything happens in a temporary folder (or DIR, kept for inspection); the environment's own diffusers is not
touched. It needs the environment of the project's test command (torch, transformers, pytest, ruff) and PyPI.
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
    """Paths the series creates or modifies (the `+++ b/...` lines)."""
    paths = []
    for patch in patches:
        with open(patch, encoding="utf-8") as f:
            paths += re.findall(r"^\+\+\+ b/(\S+)$", f.read(), flags=re.M)
    return sorted(set(paths))


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


def apply_series(tree: str) -> None:
    if not PATCHES:
        raise SystemExit(f"No patches in {os.path.join(UPSTREAM, 'patches')}.")
    # A repository of its own, so that `git apply` takes paths relative to the tree wherever the workdir is.
    run(["git", "init", "-q"], cwd=tree)
    for patch in PATCHES:
        step(f"git apply --check {os.path.relpath(patch, ROOT)}")
        run(["git", "apply", "--check", patch], cwd=tree)
        run(["git", "apply", patch], cwd=tree)


def install(tree: str, target: str) -> None:
    step(f"pip install --no-deps --target {target}")
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", target, tree])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="work in this (new or empty) folder and keep it, instead of a temporary one")
    args = parser.parse_args()
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="diffusers-upstream-check-")
    os.makedirs(workdir, exist_ok=True)
    start = time.monotonic()
    try:
        sdist = download_sdist(workdir)
        stock_tree = extract(sdist, os.path.join(workdir, "stock"))
        patched_tree = extract(sdist, os.path.join(workdir, "patched"))
        apply_series(patched_tree)
        touched = touched_files(PATCHES)

        step("ruff with diffusers' settings on the files the series touches")
        python_files = [path for path in touched if path.endswith(".py")]
        run([sys.executable, "-m", "ruff", "check", *python_files], cwd=patched_tree)
        run([sys.executable, "-m", "ruff", "format", "--check", *python_files], cwd=patched_tree)

        stock_site, patched_site = os.path.join(workdir, "site-stock"), os.path.join(workdir, "site-patched")
        install(stock_tree, stock_site)
        install(patched_tree, patched_site)

        hub = os.path.join(workdir, "hub")
        hub_cache.populate(hub)
        env = dict(os.environ, HF_HUB_CACHE=hub, HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")

        # diffusers' tests are a package (`from ..testing_utils import ...`); the sdist ships tests/testing_utils.py
        # without the __init__.py files of the repository.
        series_tests = [path for path in touched if re.match(r"tests/.*test_[^/]*\.py$", path)]
        step(f"(a) the series' own tests against the patched release: {', '.join(series_tests)}")
        for folder in {os.path.dirname(path) for path in series_tests} | {"tests"}:
            while folder:
                open(os.path.join(patched_tree, folder, "__init__.py"), "a").close()
                folder = os.path.dirname(folder)
        run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", patched_tree, *series_tests],
            cwd=patched_tree,
            env=dict(env, PYTHONPATH=patched_site),
        )

        step("(b) equivalence: patched release vs diffusers_scaled and vs the pristine release")
        run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "upstream/tests"],
            cwd=ROOT,
            env=dict(env, PYTHONPATH=os.pathsep.join([patched_site, ROOT]), DIFFUSERS_STOCK_PATH=stock_site),
        )
        step(f"upstream check passed in {time.monotonic() - start:.0f}s")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
