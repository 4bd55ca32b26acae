"""What a package index shows and a wheel carries: the licence, the metadata, a README whose links work off the repo.

The wheel is built from a copy of the sources in a temporary folder (so the checkout gets no `build/` or
`*.egg-info`), with the installed setuptools (`--no-build-isolation`: nothing is downloaded).
"""

import email
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

import diffusers_scaled


ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ["setup.py", "pyproject.toml", "README.md", "LICENSE", "diffusers_scaled"]
# Markdown link and image targets, and HTML src/href attributes
LINK = re.compile(r"\]\(([^)\s]+)[^)]*\)|(?:src|href)=\"([^\"]+)\"")


def test_license_is_the_full_apache_2_text():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.split()) > 1500  # the full text (about 1,580 words), not a notice pointing to it


def test_readme_links_are_absolute():
    # A package index renders README.md as the project page, where a relative link points nowhere.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [a or b for a, b in LINK.findall(readme)]
    assert targets
    relative = [t for t in targets if not re.match(r"https?://|#", t)]
    assert relative == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = ROOT / name
        copy = shutil.copytree if path.is_dir() else shutil.copy2
        copy(path, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if path.is_dir() else {}))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = out.glob("diffusers_scaled-*.whl")
    return path


def test_wheel_carries_the_license_and_the_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
        licenses = [n for n in names if ".dist-info/" in n and n.rsplit("/", 1)[-1] == "LICENSE"]
        assert licenses, names
        assert archive.read(licenses[0]) == (ROOT / "LICENSE").read_bytes()
    assert metadata["Version"] == diffusers_scaled.__version__
    assert metadata["Home-page"].startswith("https://")
    assert metadata["Author"]
    assert "Apache" in metadata["License"] or "Apache" in (metadata["License-Expression"] or "")
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text(encoding="utf-8").strip()
