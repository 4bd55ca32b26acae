"""The explicit family table: every exported diffusers pipeline class with a `vae` is either proven (mapped to a
family, with its test) or refused with its reason; `scaled()` follows the table; the docs show it."""

import pathlib

import diffusers
import pytest

from diffusers_scaled import pipelines, scaled
from diffusers_scaled.formats import _table, covered_families, format_for


ROOT = pathlib.Path(__file__).resolve().parents[2]
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"


@pytest.fixture(scope="module")
def exported():
    return _table.exported_vae_pipelines()


def test_every_exported_vae_pipeline_is_proven_or_refused(exported):
    # A new diffusers release that adds a pipeline fails here until the table says what it is.
    assert len(exported) > 200
    assert [n for n in exported if n not in _table.PROVEN and n not in _table.REFUSED] == []
    assert [n for n in exported if n in _table.PROVEN and n in _table.REFUSED] == []
    assert sorted(n for n in [*_table.PROVEN, *_table.REFUSED] if n not in exported) == []  # no stale names


@pytest.mark.parametrize("name", sorted(_table.PROVEN))
def test_each_proven_pipeline_names_a_test_that_exercises_it(name):
    path = ROOT / _table.proving_test(name)
    assert path.is_file(), path
    assert name in path.read_text(encoding="utf-8") or f"Scaled{name}" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(_table.PROVEN))
def test_every_proven_pipeline_gets_its_format(name):
    # (`scaled()` itself is not called for each: test_factory checks that a class is made on first use only.)
    stock = getattr(diffusers, name)
    assert format_for(stock) is _table.PROVEN[name][0]
    ready = pipelines.ready_class_for(stock)
    if ready is not None:
        assert ready.latent_format is _table.PROVEN[name][0]


@pytest.mark.parametrize(
    "name", ["AnimateDiffPipeline", "StableAudioPipeline", "MarigoldDepthPipeline", "HiDreamImagePipeline"]
)
def test_refused_pipelines_raise_at_class_creation_with_reason_and_families(name):
    with pytest.raises(TypeError) as error:
        scaled(getattr(diffusers, name))
    message = str(error.value)
    assert f"`{name}` has no proven latent format ({_table.REFUSED[name]})" in message
    assert all(family in message for family in covered_families())


def test_docs_coverage_table_is_generated_from_the_table(exported):
    page = (ROOT / "docs" / "latent-spaces.md").read_text(encoding="utf-8")
    section = page[page.index(START) + len(START) : page.index(END)].strip("\n") + "\n"
    assert section == _table.coverage_markdown(exported), (
        "docs/latent-spaces.md's coverage section is stale: regenerate it with "
        '`python -c "from diffusers_scaled.formats import _table; '
        'print(_table.coverage_markdown(_table.exported_vae_pipelines()))"`'
    )
