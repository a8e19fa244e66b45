"""The documentation against the tree: the README's map of the code names only paths that
exist and every service module, the design pages exist, and every relative link resolves
(to a file, and to a heading when it names one).

The map is the first fenced block after the "## Map of the code" heading. Each line is
`names  description`: the names come first, separated by single spaces, and two or more
spaces start the description. A line indented by CONTINUATION or more columns continues the
previous line's description. A name at column 0 is a path from the repository root; an
indented name is a child of the nearest line above it that is less indented and names a
directory (ending in "/"). A name ending in "/" must be a directory. Every Python module
and package under app/services/ must be named, and so must every one directly in a
directory under app/ whose children the map lists (`__init__.py` is named by its
directory), so the map cannot go stale in either direction.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ("README.md", "architecture.md", "conventions.md", "domain.md", "api.md")
CONTINUATION = 24  # description column of the map
MAP_HEADING = "## Map of the code"
# Markdown links and images, [text](target) or [text](target "title"), outside code spans.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)  # http:, mailto:, //host


def map_block(text: str) -> list[str]:
    """The lines of the fenced block following the map heading."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == MAP_HEADING), None)
    if start is None:
        raise AssertionError(f"README has no {MAP_HEADING!r} section")
    fence = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("```")), None)
    if fence is None:
        raise AssertionError("the map section has no fenced block")
    end = next((i for i in range(fence + 1, len(lines)) if lines[i].startswith("```")), None)
    if end is None:
        raise AssertionError("the map's fenced block is not closed")
    return lines[fence + 1:end]


class Entry(NamedTuple):
    line: int  # line number in the block
    path: str  # from the repository root; a directory ends in "/"
    parent: str  # the directory it is listed under ("" at the root)


def parse_map(lines: list[str]) -> list[Entry]:
    """Every name in the map, resolved to a path from the root."""
    entries: list[Entry] = []
    parents: list[tuple[int, str]] = []  # (indent, directory path ending in "/")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent >= CONTINUATION:
            continue
        if line[indent] == "\t":
            raise AssertionError(f"map line {number}: indent with spaces, not tabs")
        names = re.split(r" {2,}", line.strip(), maxsplit=1)[0].split(" ")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        if indent and not parents:
            raise AssertionError(f"map line {number}: indented under no directory: {line!r}")
        parent = parents[-1][1] if indent else ""
        entries.extend(Entry(number, parent + name, parent) for name in names)
        if len(names) == 1 and names[0].endswith("/"):
            parents.append((indent, parent + names[0]))
    return entries


def missing_paths(entries: list[Entry]) -> list[str]:
    problems = []
    for entry in entries:
        target = ROOT / entry.path
        if entry.path.endswith("/") and not target.is_dir():
            problems.append(f"line {entry.line}: {entry.path} is not a directory")
        elif not target.exists():
            problems.append(f"line {entry.line}: {entry.path} does not exist")
    return problems


def python_children(directory: Path) -> set[str]:
    """The Python modules and packages directly in `directory`, as map paths."""
    found = set()
    for child in directory.iterdir():
        if child.is_file() and child.suffix == ".py" and child.name != "__init__.py":
            found.add(child.relative_to(ROOT).as_posix())
        elif child.is_dir() and (child / "__init__.py").is_file():
            found.add(child.relative_to(ROOT).as_posix() + "/")
    return found


def unlisted_modules(entries: list[Entry]) -> list[str]:
    """Python modules and packages the map does not name: every one under app/services/
    (recursively), and every one directly in a directory under app/ whose children the map
    lists. A package's `__init__.py` is named by its directory."""
    named = {entry.path for entry in entries}
    expected: set[str] = set()
    for directory in {entry.parent for entry in entries if entry.parent.startswith("app/")}:
        if (ROOT / directory).is_dir():
            expected |= python_children(ROOT / directory)
    services = ROOT / "app" / "services"
    for package in [services, *(path for path in services.rglob("*") if path.is_dir())]:
        if (package / "__init__.py").is_file():
            expected |= python_children(package)
    return sorted(expected - named)


def links(path: Path) -> list[str]:
    """Relative link targets in a Markdown file (code spans and fenced blocks skipped)."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"),
                  flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [target for target in LINK.findall(text) if not EXTERNAL.match(target)]


@pytest.fixture(autouse=True)
def clean_state():
    """These tests read files only: no app, no database, no sandbox (overrides the suite's
    autouse fixture of the same name)."""
    yield


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return parse_map(map_block(README.read_text(encoding="utf-8")))


def test_map_names_only_existing_paths(entries):
    assert len(entries) > 20, "the map looks empty"
    assert missing_paths(entries) == []


def test_map_names_every_service_module(entries):
    assert unlisted_modules(entries) == [], "add these to the README's map of the code"


def test_a_broken_map_fails(tmp_path):
    """The check itself: a map naming a path that does not exist is caught (on a copy of
    the README, never the real one)."""
    copy = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    assert "\n    transitions.py " in text
    copy.write_text(text.replace("\n    transitions.py ", "\n    transition_table.py ", 1),
                    encoding="utf-8")
    broken = parse_map(map_block(copy.read_text(encoding="utf-8")))
    problems = missing_paths(broken)
    assert len(problems) == 1 and "app/services/transition_table.py does not exist" in problems[0]
    assert unlisted_modules(broken) == ["app/services/transitions.py"]


def test_parser_resolves_children_and_continuations():
    block = ["app/                    the app",
             "  services/             rules",
             "    a.py b.py           two modules on one line",
             "                        a continuation: not/a/path.py",
             "    pkg/                a package",
             "      c.py",
             "  jobs/",
             "scripts/pg-tmp          a file at the root"]
    assert [entry.path for entry in parse_map(block)] == [
        "app/", "app/services/", "app/services/a.py", "app/services/b.py",
        "app/services/pkg/", "app/services/pkg/c.py", "app/jobs/", "scripts/pg-tmp"]


def test_design_pages_exist():
    for name in DOCS:
        assert (ROOT / "docs" / name).is_file(), f"docs/{name} is missing"


def test_readme_does_not_point_outside_the_repository():
    assert "../shared" not in README.read_text(encoding="utf-8")
    for name in DOCS:
        assert "../shared" not in (ROOT / "docs" / name).read_text(encoding="utf-8"), name


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"),
                  flags=re.MULTILINE | re.DOTALL)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def broken_links(path: Path) -> list[str]:
    """Relative links in `path` to a file that does not exist, or to a missing heading."""
    broken = []
    for target in links(path):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{name}" for name in DOCS])
def test_relative_links_resolve(page):
    assert broken_links(ROOT / page) == [], f"{page} links to missing files or headings"


def test_a_broken_link_fails(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Error codes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("# Page\n[ok](other.md) [ok](other.md#error-codes) [ok](#page)\n"
                    "[web](https://example.com) `[code](not-a-link.md)`\n"
                    "[gone](missing.md) [bad](other.md#nowhere) [bad](#nowhere)\n",
                    encoding="utf-8")
    assert broken_links(page) == ["missing.md", "other.md#nowhere", "#nowhere"]
