"""Check a latent cache: the index, and in every shard the header (format, settings), image indices, the number of
tensors and each tensor's shape, dtype and SHA-256. Names every bad shard; exit status 1 if any.

Examples:
  diffusers-scaled verify ./latents
  diffusers-scaled verify ./latents --sources     # also report source images changed since they were encoded
"""

from __future__ import annotations

import sys


HELP = "check a latent cache's shards (header, tensor count, shapes, hashes) and name the bad ones"


def add_arguments(parser):
    parser.add_argument("cache_dir", help="the cache folder")
    parser.add_argument(
        "--sources", action="store_true", help="also hash the source image files and report those that changed"
    )


def run(args) -> int:
    from ..tools import verify_cache

    report = verify_cache(args.cache_dir, sources=args.sources)
    if report.ok:
        skipped = f" ({report.num_skipped} unreadable images skipped)" if report.num_skipped else ""
        print(f"{args.cache_dir}: {report.num_shards} shards, {report.num_images} images{skipped}, all sound")
        return 0
    for name, problems in report.problems.items():
        for problem in problems:
            print(f"{name}: {problem}", file=sys.stderr)
    bad = ", ".join(report.problems)
    print(f"diffusers-scaled verify: error: {len(report.problems)} bad file(s): {bad}", file=sys.stderr)
    return 1
