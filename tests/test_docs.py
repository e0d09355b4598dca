"""The docs and the README stay true: every command they quote parses, every figure and page they
link exists, and every generated block is one scripts/docs_tables.py knows how to fill."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import SCRIPTS, load_module
from csslab.cli.main import build_parser
from csslab.methods import METHODS
from csslab.reports.benchmark_table import benchmark_markdown

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [README, ROOT / "CHANGELOG.md"]
README_MAX_LINES = 200  # an overview a newcomer reads; long docs live in docs/


def _commands(text: str) -> list[str]:
    """`csslab ...` in inline code, and lines of fenced code blocks that start with csslab."""
    found = re.findall(r"`(csslab [^`\n]+)`", text)
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                if part.strip().startswith("csslab "):
                    found.append(part.strip())
    commands = [re.sub(r"\s+#.*$", "", c).strip() for c in found]
    return [c for c in commands if not re.match(r"csslab \S+:", c)]  # "csslab run: ..." is printed output


def _docs_tables():
    return load_module(SCRIPTS / "docs_tables.py")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_quoted_command_parses(page):
    commands = _commands(page.read_text())
    assert commands, f"{page.name} quotes no csslab command: the extraction is broken"  # every page shows some
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv and argv[0] in ("methods",) or "..." in command or "NAME" in command:
            continue  # no options to check, or a placeholder
        try:
            parser.parse_args(argv)
        except SystemExit as error:
            pytest.fail(f"{page.name}: `{command}` does not parse ({error})")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_linked_figures_and_pages_exist(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#]+?)\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links {target}, which does not exist"


def test_generated_blocks_are_known_and_filled():
    known = set(_docs_tables().BLOCKS) | set(load_module(SCRIPTS / "papers_doc.py").BLOCKS)
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for match in _docs_tables().MARKER.finditer(page.read_text()):
            assert match["name"] in known, f"{page.name}: unknown block {match['name']}"
            assert match["body"].strip(), f"{page.name}: block {match['name']} is empty: run scripts/make_docs.sh"


def test_block_substitution_keeps_the_prose():
    module = _docs_tables()
    text = "before\n<!-- make_docs: budget -->\nold\n<!-- /make_docs -->\nafter\n"
    new = module.fill(text, {"budget": "new"})
    assert new == "before\n<!-- make_docs: budget -->\nnew\n<!-- /make_docs -->\nafter\n"
    with pytest.raises(SystemExit, match="unknown block"):
        module.fill(text, {"other": "x"})


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_pointers_from_code_and_pages_reach_a_heading():
    """Code keeps one line of why and a pointer such as docs/methods.md#lwf; every such pointer (and
    every page's link with an anchor) must name a heading of an existing page."""
    sources = sorted((ROOT / "csslab").rglob("*.py")) + PAGES
    pointers = []
    for source in sources:
        text = source.read_text()
        for target, anchor in re.findall(r"((?:\.\./)?(?:[\w-]+/)*[\w-]+\.md)#([\w\-]+)", text):
            base = source.parent if source.suffix == ".md" and not target.startswith("docs/") else ROOT
            pointers.append((source.name, base / target, anchor))
        pointers += [(source.name, source, anchor) for anchor in re.findall(r"\]\(#([\w\-]+)\)", text)]
    assert any(name == "lwf.py" for name, _, _ in pointers), "no pointer found: the extraction is broken"
    for name, page, anchor in pointers:
        assert page.exists(), f"{name} points to {page.name}, which does not exist"
        assert anchor in _anchors(page), f"{name} points to {page.name}#{anchor}, which is no heading there"


def test_no_page_is_left_with_a_placeholder():
    """A table or result promised in a page is there: no ``*_PLACEHOLDER`` token left by an unfinished edit."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    left = [f"{page.name}: {m}" for page in pages for m in re.findall(r"\b[A-Z_]*PLACEHOLDER\b", page.read_text())]
    assert not left, left


def test_the_readme_is_an_overview():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, over {README_MAX_LINES}: move the detail to a page under docs/")


def test_the_readme_benchmark_is_the_generated_table():
    """The README's one benchmark table sits in a block scripts/docs_tables.py fills (``--readme-bench``): every
    method's regimes side by side, as ``rows_table`` lays out a ``--grid model.pretrain=none,digits`` benchmark, so a
    refill changes numbers, not the layout; without that grid it is ``csslab benchmark``'s own table."""
    module = _docs_tables()
    blocks = {m["name"]: m["body"] for m in module.MARKER.finditer(README.read_text())}
    assert list(blocks) == [module.README_BLOCK], f"README.md's generated blocks: {list(blocks)}"
    table = blocks[module.README_BLOCK].strip().splitlines()
    row = {"setting": "overlap", "tasks": "2-2-2-2-2", "n_seeds": 1, "n_runs": 1, "all_mean": 0.5, "all_std": None,
           "base_mean": 0.6, "base_std": None, "added_mean": 0.4, "added_std": None}
    rows = [row | {"method": m, "variant": f"model.pretrain={g}"} for m in ("mib", "ssul") for g in ("none", "digits")]
    generated = module.rows_table(rows).splitlines()
    assert table[:2] == generated[:2], "the README's table has other columns than rows_table's"
    assert generated[2] == "| mib | 1 | 0.500 | 0.600 | 0.400 | 0.500 | 0.600 | 0.400 |"
    assert len(table) == 2 + len(METHODS) and all(line.count("|") == table[0].count("|") for line in table)
    plain = module.rows_table([row | {"method": "mib", "variant": ""}]).splitlines()
    assert plain[:2] == module.table_only(benchmark_markdown([row | {"method": "mib"}])).splitlines()[:2]
    filled = module.fill(README.read_text(), {module.README_BLOCK: "\n".join(generated)})
    assert "\n".join(generated) in filled and "| finetune | 1 |" not in filled  # the block is replaced whole


def test_code_cites_the_architecture_page_not_a_design_file():
    """The definitions the code follows are in docs/architecture.md, in the repository; no module cites a
    design file that is not (its citations were "DESIGN §N")."""
    sources = sorted((ROOT / "csslab").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    assert len(sources) > 50, "no source found: the glob is broken"
    citing = [str(s.relative_to(ROOT)) for s in sources if "DESIGN" in s.read_text()]
    assert not citing, f"cite docs/architecture.md instead of DESIGN in: {', '.join(citing)}"
    cited = [s for s in sources if "docs/architecture.md#" in s.read_text()]
    assert len(cited) >= 5, "the code's citations of docs/architecture.md are gone"


def test_ci_runs_the_readmes_test_command():
    """The README's second command is the one CI proves on a clean checkout: ``.ci/run`` runs it verbatim."""
    block = re.search(r"The tests \(exactly what `\.ci/run` runs.*?```bash\n(.*?)\n```", README.read_text(), flags=re.S)
    assert block, "README.md has no test command after 'The tests (exactly what `.ci/run` runs'"
    command = block.group(1).strip()
    assert "python -m pytest" in command and "torch==2.13.0" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines(), f".ci/run does not run {command!r}"
    guide = ROOT / "docs" / "getting-started.md"  # it repeats the README's two commands
    assert command in guide.read_text().splitlines(), f"{guide.name} does not give the README's test command"
