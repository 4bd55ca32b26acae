"""The package's architecture, read from its source: no import circle, the map in CONTRIBUTING.md is the code's, the
annexes (`cli/`, `tools/`) use only public modules of the core, every public name is documented in `docs/api/`.

Imports are read with `ast`, deferred imports inside functions included, so a circle cannot hide behind a function.
"""

import ast
import fnmatch
import importlib
import pathlib
import re

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "diffusers_scaled"
MAP_HEADING = "## Map of the package"


def modules() -> dict[str, pathlib.Path]:
    """Dotted name -> file, for every module of the package (a package is its `__init__.py`)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: pathlib.Path, known: dict) -> set[str]:
    """The modules of the package that `name` imports anywhere in its source, by dotted name. `from X import y` counts
    as importing `X.y` where that is a module, else `X`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                while target and target not in known:
                    target = target.rpartition(".")[0]
                found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in found if target in known and target != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (`[a, b, ..., a]`), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def short(name: str) -> str:
    return name.removeprefix("diffusers_scaled.") if name != "diffusers_scaled" else "__init__"


# 1. No import circle ------------------------------------------------------------------------------------------------


def test_no_import_circle():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(short(m) for m in cycle)


def test_the_circle_finder_finds_circles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_deferred_imports_count(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from . import _vae\n", encoding="utf-8")
    known = {"diffusers_scaled.m": source, "diffusers_scaled._vae": source}
    assert imports_of("diffusers_scaled.m", source, known) == {"diffusers_scaled._vae"}


# 2. The annexes use the core's public modules only ------------------------------------------------------------------


def private_core_imports() -> list[str]:
    bad = []
    for name, targets in graph().items():
        annex = next((a for a in ("cli", "tools") if short(name).split(".")[0] == a), None)
        if annex is None:
            continue
        for target in targets:
            parts = short(target).split(".")
            own = parts[0] == annex  # an annex's own private modules are its business
            public_face = parts == ["__init__"]  # the package itself (`from .. import __version__`)
            if any(p.startswith("_") for p in parts) and not own and not public_face:
                bad.append(f"{short(name)} imports {short(target)}")
    return sorted(bad)


def test_cli_and_tools_import_no_private_module_of_the_core():
    assert private_core_imports() == []


# 3. The map in CONTRIBUTING.md --------------------------------------------------------------------------------------


def map_rows() -> list[tuple[str, str, list[str], list[str]]]:
    """(path pattern, job, import patterns, test files) for each row of the map's table."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split(MAP_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or set(cells[0]) <= {"-", " "} or cells[0] == "module":
            continue
        (pattern,) = re.findall(r"`([^`]+)`", cells[0])
        rows.append((pattern, cells[1], re.findall(r"`([^`]+)`", cells[2]), re.findall(r"`([^`]+)`", cells[3])))
    return rows


def files() -> list[str]:
    return [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))]


def test_map_lists_every_module_once_and_only_modules_that_exist():
    rows = map_rows()
    assert rows, f"CONTRIBUTING.md has no table under {MAP_HEADING!r}"
    for pattern, job, _, _ in rows:
        assert fnmatch.filter(files(), pattern), f"the map lists {pattern}, which matches no module"
        assert job, f"the map gives {pattern} no job"
    for file in files():
        matching = [pattern for pattern, *_ in rows if fnmatch.fnmatch(file, pattern)]
        assert len(matching) == 1, f"{file} must match exactly one row of the map, matches {matching}"


def test_map_says_what_each_module_imports():
    edges = graph()
    rows = map_rows()
    for name, targets in edges.items():
        file = str(modules()[name].relative_to(PACKAGE))
        pattern, _, allowed, _ = next(row for row in rows if fnmatch.fnmatch(file, row[0]))
        for target in targets:
            assert any(fnmatch.fnmatch(short(target), a) for a in allowed), (
                f"{file} imports {short(target)}, which its row in the map ({pattern}) does not allow: {allowed}"
            )


def test_map_names_test_files_that_exist():
    for pattern, _, _, tests in map_rows():
        assert tests, f"the map names no test file for {pattern}"
        for test in tests:
            assert (ROOT / test).is_file(), f"the map names {test} for {pattern}; no such file"


# 4. Every public name is documented --------------------------------------------------------------------------------


def public_modules() -> list[str]:
    """The modules whose names users may import: no underscore in the path, outside `cli/` (whose public face is the
    command line, documented in docs/cli.md), and not a ready class's own module (its one class is public through
    `pipelines`)."""
    names = [short(n) for n in modules()]
    return [
        n
        for n in names
        if not any(p.startswith("_") for p in n.split("."))
        and n.split(".")[0] != "cli"
        and not n.startswith("pipelines.pipeline_scaled_")
    ]


def dotted(module: str) -> str:
    return "diffusers_scaled" if module == "__init__" else f"diffusers_scaled.{module}"


@pytest.mark.parametrize("module", public_modules())
def test_public_modules_declare_their_public_names(module):
    assert isinstance(getattr(importlib.import_module(dotted(module)), "__all__", None), list), f"{module}: no __all__"


def public_names() -> list[tuple[str, str]]:
    return [(m, name) for m in public_modules() for name in importlib.import_module(dotted(m)).__all__]


@pytest.mark.parametrize("module, name", public_names(), ids=lambda v: v)
def test_every_public_name_is_documented_in_docs_api(module, name):
    pages = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs" / "api").glob("*.md")))
    assert re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`", pages), f"{module}.{name} is not in docs/api/"
