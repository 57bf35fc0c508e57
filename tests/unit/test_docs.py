"""The docs stay true: every file, module and link that README.md and docs/*.md name exists.

The docs name repository paths (`mlops_core/registry/store.py`, `tests/e2e/test_staleness.py`),
dotted modules (`mlops_core.registry.store.Registry`) and each other's sections
(`[Manual approval](docs/registry.md#manual-approval)`). Code moves; these tests read the documents
and the file tree (nothing is imported) and name every reference that no longer resolves, with its
document and line.

What counts as a reference:
- a path: an inline code span, or a word in one, that starts with a top-level folder of this
  repository (`mlops_core/`, `tests/`, ...) or is one of its top-level files (`Makefile`, ...);
  a trailing `:line`, `::name` or `#anchor` is ignored; a span with a placeholder (`<version>`, `*`,
  `...`) is not a path;
- a dotted module: a code span such as `mlops_core.registry.store` or `mlopsctl.modelcheck`,
  optionally followed by one attribute name, which must be defined in the module (`def NAME`,
  `class NAME`, `NAME =`, `NAME:`) or imported into it (a package's re-export in its `__init__`).
  `training.x.y` is checked too; a two-part `training.x` is a config key (`training.min_rows`);
- a link: a relative Markdown link; it must point at a file or folder, and a `#anchor` must match a
  heading of the target (GitHub's slugs: lower case, punctuation other than `-` and `_` dropped,
  spaces to `-`, `-1`, `-2` for repeats).
Fenced code blocks are skipped: they show commands and output, not references.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FOLDERS = (
    "mlops_core/",
    "mlopsctl/",
    "lambdas/",
    "training/",
    "infra/",
    "tests/",
    "bench/",
    "examples/",
    "pipelines/",
    "docs/",
    "tools/",
    ".ci/",
    ".github/",
)
TOP_LEVEL_FILES = frozenset(
    {
        "Makefile",
        "README.md",
        "app.py",
        "cdk.json",
        "docker-compose.yml",
        "mkdocs.yml",
        "mlops.toml",
        "package.json",
        "package-lock.json",
        "pyproject.toml",
        "requirements.txt",
        "requirements-bench.txt",
        "requirements-localstack.txt",
    }
)
# Dotted paths checked as modules; `training` only with three parts or more (two parts are config keys).
PACKAGES = ("mlops_core", "mlopsctl", "training")
PLACEHOLDER = re.compile(r"[<>*{}\[\]$|]|\.\.\.")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


@dataclass(frozen=True)
class Reference:
    line: int
    kind: str  # "path", "module" or "link"
    target: str


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    """`text` with every match of `pattern` replaced by spaces (line breaks kept, so offsets and lines hold)."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _is_path(word: str) -> bool:
    return word.startswith(FOLDERS) or word in TOP_LEVEL_FILES


def _dotted_module(word: str) -> bool:
    parts = word.split(".")
    if not DOTTED.match(word) or parts[0] not in PACKAGES:
        return False
    return parts[0] != "training" or len(parts) >= 3


def references(text: str) -> list[Reference]:
    """Every path, dotted module and relative link a Markdown document names, fenced code blocks left out."""
    prose = _blank(text, FENCE)
    found: list[Reference] = []
    for span in CODE_SPAN.finditer(prose):
        content = span.group(2).strip()
        if PLACEHOLDER.search(content):
            continue
        for raw in re.split(r"[\s,;()]+", content):
            word = raw.strip("'\"")
            if _is_path(word):
                found.append(Reference(_line(prose, span.start()), "path", word))
            elif _dotted_module(word):
                found.append(Reference(_line(prose, span.start()), "module", word))
    for link in LINK.finditer(_blank(prose, CODE_SPAN)):
        target = link.group(2)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto: ...
            found.append(Reference(_line(prose, link.start()), "link", target))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: links reduced to their text, lower case, punctuation other than - and _
    dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    kept = "".join(c for c in text if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown document's headings (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(_blank(text, FENCE)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def _strip_location(path: str) -> str:
    """`a/b.py:12`, `a/b.py::test_x`, `a/b.md#part` -> the file's path."""
    return re.split(r"::|:(?=\d)|#", path, maxsplit=1)[0]


def _defines(source: str, name: str) -> bool:
    if re.search(rf"^(?:async\s+)?(?:def|class)\s+{name}\b|^{name}\b *[:=]", source, re.MULTILINE):
        return True
    imports = re.finditer(r"^(?:from\s+\S+\s+)?import\s+(\([^)]*\)|[^\n]*)", source, re.MULTILINE)
    return any(re.search(rf"\b{name}\b", m.group(1)) for m in imports)


def module_problem(dotted: str, root: Path = ROOT) -> str | None:
    """Why a dotted module path (with at most one attribute after the module) does not resolve, or None."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:end])
        source_file = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source_file.is_file():
            break
    else:
        return f"no module {parts[0]}"
    module, rest = ".".join(parts[:end]), parts[end:]
    if not rest:
        return None
    if len(rest) > 1:
        return f"{module} has no module {rest[0]} (only one attribute may follow a module)"
    if _defines(source_file.read_text(encoding="utf-8"), rest[0]):
        return None
    return f"{module} ({source_file.relative_to(root)}) neither defines nor imports {rest[0]}"


def problems(doc: Path, root: Path = ROOT) -> dict[str, list[str]]:
    """What does not resolve in one document, by kind of reference: 'path', 'module', 'link', 'anchor'."""
    text = doc.read_text(encoding="utf-8")
    out: dict[str, list[str]] = {"path": [], "module": [], "link": [], "anchor": []}
    for ref in references(text):
        where = f"{doc.relative_to(root)}:{ref.line}"
        if ref.kind == "path":
            if not (root / _strip_location(ref.target)).exists():
                out["path"].append(f"{where}: `{ref.target}` is not in the repository")
        elif ref.kind == "module":
            problem = module_problem(ref.target, root)
            if problem:
                out["module"].append(f"{where}: `{ref.target}`: {problem}")
        else:
            file_part, _, anchor = ref.target.partition("#")
            target = (doc.parent / file_part).resolve() if file_part else doc
            if not target.exists():
                out["link"].append(f"{where}: ({ref.target}) points at nothing")
            elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text(encoding="utf-8")):
                out["anchor"].append(f"{where}: ({ref.target}): {target.name} has no heading #{anchor}")
    return out


def _ids(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


# The documents


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_repository_path_a_document_names_exists(doc):
    found = problems(doc)["path"]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_dotted_module_a_document_names_resolves(doc):
    found = problems(doc)["module"]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_relative_link_points_at_a_file_or_folder(doc):
    found = problems(doc)["link"]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("doc", DOCS, ids=_ids)
def test_every_link_anchor_matches_a_heading_of_its_target(doc):
    found = problems(doc)["anchor"]
    assert not found, "\n".join(found)


def test_the_readme_links_every_page_under_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {ref.target.partition("#")[0] for ref in references(readme) if ref.kind == "link"}
    assert [f"docs/{page.name}" for page in DOCS[1:] if f"docs/{page.name}" not in linked] == []


def test_the_site_navigation_lists_every_page_under_docs():
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s*-\s[^:\n]+:\s*(\S+\.md)\s*$", site, re.MULTILINE)
    assert sorted(set(nav) - {"index.md"}) == sorted(page.name for page in DOCS[1:])


# The checker itself: each kind of broken reference is reported


@pytest.fixture
def repo(tmp_path):
    """A tiny repository: a package with a module and a re-export, a test file, and a docs page."""
    (tmp_path / "mlops_core" / "registry").mkdir(parents=True)
    (tmp_path / "mlops_core" / "__init__.py").write_text("")
    (tmp_path / "mlops_core" / "registry" / "__init__.py").write_text("from .store import (\n    Registry,\n)\n")
    (tmp_path / "mlops_core" / "registry" / "store.py").write_text("class Registry:\n    pass\n\nLIMIT: int = 3\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "docs").mkdir()
    page = "# Page\n\n## Champion/challenger for batches\n\n## The `mlops` CLI: a tour\n"
    (tmp_path / "docs" / "page.md").write_text(page)
    return tmp_path


def _check(repo: Path, text: str) -> dict[str, list[str]]:
    doc = repo / "README.md"
    doc.write_text(text)
    return problems(doc, repo)


def test_given_references_that_resolve_when_checked_then_nothing_is_reported(repo):
    text = (
        "See `mlops_core/registry/store.py`, `tests/test_x.py::test_x`, `tests/test_x.py:2`, `tests/`,\n"
        "`mlops_core.registry.store.Registry`, `mlops_core.registry.Registry`, `mlops_core.registry.store.LIMIT`,\n"
        "`mlops_core.registry`, `training.min_rows` (a config key), `models/<version>/model.joblib`,\n"
        "[the page](docs/page.md), [a part](docs/page.md#championchallenger-for-batches),\n"
        "[the tour](docs/page.md#the-mlops-cli-a-tour), [a folder](tests/), [here](#readme), [web](https://example.com).\n"
        "\n# README\n\n```bash\ncat mlops_core/gone.py `mlops_core/gone.py`\n```\n"
    )
    assert _check(repo, text) == {"path": [], "module": [], "link": [], "anchor": []}


def test_given_a_path_that_moved_when_checked_then_it_is_reported_with_its_line(repo):
    text = "intro\n\nthe store (`mlops_core/registry.py`) and `mlops --config examples/none.toml train`\n"
    found = _check(repo, text)
    assert found["path"] == [
        "README.md:3: `mlops_core/registry.py` is not in the repository",
        "README.md:3: `examples/none.toml` is not in the repository",
    ]


def test_given_a_module_or_attribute_that_moved_when_checked_then_it_is_reported(repo):
    found = _check(repo, "`mlops_core.registry.champion`, `mlops_core.registry.store.Champion`, `mlops_core.gate.x`\n")
    assert len(found["module"]) == 3
    assert "neither defines nor imports Champion" in found["module"][1]


def test_given_a_link_to_a_missing_page_or_heading_when_checked_then_it_is_reported(repo):
    found = _check(repo, "[a](docs/gone.md) and [b](docs/page.md#manual-approval) and [c](#nowhere)\n")
    assert found["link"] == ["README.md:1: (docs/gone.md) points at nothing"]
    assert [p.split(": ", 1)[1] for p in found["anchor"]] == [
        "(docs/page.md#manual-approval): page.md has no heading #manual-approval",
        "(#nowhere): README.md has no heading #nowhere",
    ]


def test_github_slugs_drop_punctuation_and_number_repeats():
    assert slug("Champion/challenger for batches") == "championchallenger-for-batches"
    assert slug("Operating it: the `mlops` CLI") == "operating-it-the-mlops-cli"
    assert slug("Tasks: binary, multiclass, regression") == "tasks-binary-multiclass-regression"
    assert slug("mlops_core.registry.store") == "mlops_coreregistrystore"
    assert anchors("# A\n\n## A\n\n```\n# not a heading\n```\n") == {"a", "a-1"}
