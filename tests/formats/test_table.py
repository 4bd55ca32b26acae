"""The explicit family table: every exported diffusers pipeline class with a `vae` is either proven (mapped to a
family, with its test) or refused with its reason; `scaled()` follows the table; the docs show it."""

import pathlib

import diffusers
import pytest
from packaging import version

from diffusers_scaled import pipelines, scaled
from diffusers_scaled.formats import _table, covered_families, format_for


ROOT = pathlib.Path(__file__).resolve().parents[2]
START, END = "<!-- coverage:start -->", "<!-- coverage:end -->"


# The diffusers release the table (and docs/latent-spaces.md's coverage section) is written for; an older one, such as
# the oldest release this package supports, lacks some of its pipelines.
TABLE_DIFFUSERS = "0.42.1"
OLDER_DIFFUSERS = version.parse(diffusers.__version__) < version.parse(TABLE_DIFFUSERS)


def installed(name):
    try:
        pipeline_class = getattr(diffusers, name, None)
    except Exception:  # an optional dependency this environment lacks: not exported here (see exported_vae_pipelines)
        pipeline_class = None
    if pipeline_class is None:
        pytest.skip(f"{name} is not in diffusers {diffusers.__version__} (the table is written for {TABLE_DIFFUSERS})")
    return pipeline_class


def missing_backend(name):
    """Whether diffusers exports `name` as a placeholder because an optional backend is not installed (Kolors without
    `sentencepiece`, which the test extras install)."""
    return type(getattr(diffusers, name, None)).__name__ == "DummyObject"


@pytest.fixture(scope="module")
def exported():
    return _table.exported_vae_pipelines()


def test_every_exported_vae_pipeline_is_proven_or_refused(exported):
    # A new diffusers release that adds a pipeline fails here until the table says what it is.
    assert len(exported) > (150 if OLDER_DIFFUSERS else 200)
    unlisted = [n for n in exported if n not in _table.PROVEN and n not in _table.REFUSED]
    if OLDER_DIFFUSERS:
        # An older release also exports deprecated aliases (`Lumina2Text2ImgPipeline`, a subclass of
        # `Lumina2Pipeline`): they follow their parent's row, a format or a TypeError at class creation.
        for name in unlisted:
            try:
                format_for(getattr(diffusers, name))
            except TypeError as error:
                assert "no proven latent format" in str(error)
    else:
        assert unlisted == []
    assert [n for n in exported if n in _table.PROVEN and n in _table.REFUSED] == []
    if not OLDER_DIFFUSERS:  # an older release lacks the newer pipelines the table names
        stale = [n for n in [*_table.PROVEN, *_table.REFUSED] if n not in exported and not missing_backend(n)]
        assert sorted(stale) == []  # no stale names


@pytest.mark.parametrize("name", sorted(_table.PROVEN))
def test_each_proven_pipeline_names_a_test_that_exercises_it(name):
    path = ROOT / _table.proving_test(name)
    assert path.is_file(), path
    assert name in path.read_text(encoding="utf-8") or f"Scaled{name}" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(_table.PROVEN))
def test_every_proven_pipeline_gets_its_format(name):
    # (`scaled()` itself is not called for each: test_factory checks that a class is made on first use only.)
    stock = installed(name)
    assert format_for(stock) is _table.PROVEN[name][0]
    ready = pipelines.ready_class_for(stock)
    if ready is not None:
        assert ready.latent_format is _table.PROVEN[name][0]


@pytest.mark.parametrize(
    "name", ["CosmosTextToWorldPipeline", "StableAudioPipeline", "MarigoldDepthPipeline", "DiTPipeline"]
)
def test_refused_pipelines_raise_at_class_creation_with_reason_and_families(name):
    with pytest.raises(TypeError) as error:
        scaled(getattr(diffusers, name))
    message = str(error.value)
    assert f"`{name}` has no proven latent format ({_table.REFUSED[name]})" in message
    assert all(family in message for family in covered_families())


def test_docs_coverage_table_is_generated_from_the_table(exported):
    if OLDER_DIFFUSERS:
        pytest.skip(
            f"the coverage section counts diffusers {TABLE_DIFFUSERS}'s pipelines, not {diffusers.__version__}'s"
        )
    missing = [n for n in [*_table.PROVEN, *_table.REFUSED] if missing_backend(n)]
    if missing:
        pytest.skip(
            f"the coverage section counts the pipelines of the test extras' backends; not installed: {missing}"
        )
    page = (ROOT / "docs" / "latent-spaces.md").read_text(encoding="utf-8")
    section = page[page.index(START) + len(START) : page.index(END)].strip("\n") + "\n"
    assert section == _table.coverage_markdown(exported), (
        "docs/latent-spaces.md's coverage section is stale: regenerate it with "
        '`python -c "from diffusers_scaled.formats import _table; '
        'print(_table.coverage_markdown(_table.exported_vae_pipelines()))"`'
    )
