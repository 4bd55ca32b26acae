"""Compares two runs of diffusers' tests, against the unpatched and the patched release, from their JUnit reports.

For each pair of reports (the same test module run on both sides, `pytest --junitxml=...`) it prints the passed /
failed / skipped counts of both sides, every test whose outcome differs, and every test that fails on both sides with a
different failure text. The texts are compared after removing what differs between any two runs (object addresses,
the path of each side's diffusers tree, line numbers, pytest's temporary folder numbers), so a failure with the same
text computed the same values on both sides: a failing pixel-slice comparison reports the same actual values.

Usage (see `upstream/PR.md`, "diffusers' own tests, patched vs unpatched", for the runs that write the reports):

    python upstream/compare_runs.py UNPATCHED_DIR PATCHED_DIR

Each directory holds one `<module>.xml` per test module; the modules of UNPATCHED_DIR are compared. Exits with 1 if
any outcome or failure text differs, if a report is missing on the patched side, or if there are no reports.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter


# Object addresses, a diffusers tree's path (`.../src/diffusers/...`), line numbers, pytest's `pytest-<n>` folders.
_RUN_SPECIFIC = re.compile(r"0x[0-9a-f]+|\S*/src/diffusers/|\.py:\d+|pytest-\d+")


def read_report(path: str) -> dict[str, tuple[str, str]]:
    """`{"<class>::<test>": (outcome, failure text)}` of a JUnit report; outcome is passed, failed or skipped."""
    found = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        text = "".join(child.text or "" for child in case if child.tag in ("failure", "error"))
        found[f"{case.get('classname')}::{case.get('name')}"] = (outcome, _RUN_SPECIFIC.sub("*", text))
    return found


def compare(unpatched_dir: str, patched_dir: str) -> bool:
    """Prints the comparison of the reports in the two folders; returns whether the two sides agree."""
    reports = sorted(glob.glob(os.path.join(unpatched_dir, "*.xml")))
    if not reports:
        print(f"no JUnit reports (*.xml) in {unpatched_dir}")
        return False
    agree = True
    totals = {"unpatched": Counter(), "patched": Counter()}
    print(f"{'module':45} {'side':9} {'passed':>7} {'failed':>7} {'skipped':>7}")
    for unpatched_path in reports:
        module = os.path.basename(unpatched_path).removesuffix(".xml")
        patched_path = os.path.join(patched_dir, os.path.basename(unpatched_path))
        if not os.path.exists(patched_path):
            print(f"{module}: no report {patched_path}")
            agree = False
            continue
        sides = {"unpatched": read_report(unpatched_path), "patched": read_report(patched_path)}
        for side, found in sides.items():
            counts = Counter(outcome for outcome, _ in found.values())
            totals[side].update(counts)
            print(f"{module:45} {side:9} {counts['passed']:7} {counts['failed']:7} {counts['skipped']:7}")
        unpatched, patched = sides["unpatched"], sides["patched"]
        for test in sorted(unpatched.keys() | patched.keys()):
            before, after = unpatched.get(test, ("absent", "")), patched.get(test, ("absent", ""))
            if before[0] != after[0]:
                print(f"  outcome differs: {test}: unpatched {before[0]}, patched {after[0]}")
                agree = False
            elif before[1] != after[1]:
                print(f"  failure text differs: {test}")
                agree = False
    for side, counts in totals.items():
        print(f"{'total':45} {side:9} {counts['passed']:7} {counts['failed']:7} {counts['skipped']:7}")
    print("the two sides agree" if agree else "the two sides differ")
    return agree


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python upstream/compare_runs.py UNPATCHED_DIR PATCHED_DIR")
    sys.exit(0 if compare(sys.argv[1], sys.argv[2]) else 1)
