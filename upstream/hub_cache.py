"""A Hugging Face Hub cache that holds the tiny tokenizer diffusers' fast tests load, built offline.

diffusers' Stable Diffusion fast tests load `CLIPTokenizer.from_pretrained("hf-internal-testing/tiny-random-clip")`
from the Hub. The CI machines reach PyPI only, so this writes the generated tiny CLIP tokenizer of
`tests/fixtures.py` into a cache folder under that repository id; with `HF_HUB_CACHE` pointing at it and
`HF_HUB_OFFLINE=1` the tests load it without a download. It is not the Hub's tokenizer (a byte-level vocabulary of
514 tokens, no merges): tests that compare against hard-coded expected pixel values fail with it, patched or not.

Usage: `python upstream/hub_cache.py CACHE_DIR` (prints nothing; exits non-zero on error).
"""

from __future__ import annotations

import os
import shutil
import sys


REPO_IDS = ("hf-internal-testing/tiny-random-clip",)
# Any 40-hex revision: the offline cache resolves `refs/main` to the snapshot folder of that name.
REVISION = "0" * 40


def populate(cache_dir: str) -> None:
    """Writes the tiny tokenizer under each repository id of `REPO_IDS` in the Hub cache layout at `cache_dir`."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from fixtures import tokenizer_dir

    source = tokenizer_dir()
    for repo_id in REPO_IDS:
        repo_dir = os.path.join(cache_dir, "models--" + repo_id.replace("/", "--"))
        snapshot = os.path.join(repo_dir, "snapshots", REVISION)
        os.makedirs(snapshot, exist_ok=True)
        os.makedirs(os.path.join(repo_dir, "refs"), exist_ok=True)
        with open(os.path.join(repo_dir, "refs", "main"), "w") as f:
            f.write(REVISION)
        for name in os.listdir(source):
            shutil.copyfile(os.path.join(source, name), os.path.join(snapshot, name))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python upstream/hub_cache.py CACHE_DIR")
    populate(sys.argv[1])
