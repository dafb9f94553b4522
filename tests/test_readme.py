"""The documentation: docs/training.md has a row for every flag of main.py (its table is made by
training.config.flag_table), so that --help, the code and the docs cannot drift apart; every
relative link resolves; the README stays a front page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from training.train_cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
TRAINING = README.parent / "docs" / "training.md"


def table_rows(text: str) -> list[str]:
    """The rows of every Markdown table in `text`, header and separator rows left out."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    return [row for row in rows if not set(row) <= set("|-: ")]


def test_every_flag_of_main_has_a_row_in_the_training_docs_table():
    rows = table_rows(TRAINING.read_text(encoding="utf-8"))
    flags = [a.option_strings[-1] for a in build_parser()._actions if a.dest != "help"]
    missing = [flag for flag in flags if not any(f"`{flag}`" in row for row in rows)]
    assert not missing, (
        f"docs/training.md has no table row for {', '.join(missing)}: paste the table printed "
        "by python -c \"from training.config import flag_table; print(flag_table(), end='')\" "
        "into it"
    )


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_of_the_readme_and_docs_is_a_committed_file():
    """A link to a file a fresh clone does not have (never committed, or git-ignored) is a broken
    promise of a result: every relative link of README.md and docs/*.md must resolve."""
    repo = README.parent
    pages = [README, *sorted((repo / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists() or ignored(path, repo):
                broken.append(f"{page.name}: {target}")
    assert not broken, "links to files a fresh clone lacks: " + ", ".join(broken)


def ignored(path: Path, repo: Path) -> bool:
    """Whether git ignores `path` (False outside a git work tree)."""
    if not (repo / ".git").exists() or shutil.which("git") is None:
        return False
    done = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=repo, capture_output=True, check=False
    )
    return done.returncode == 0


def test_the_readme_is_a_front_page():
    """At most 250 lines: what, results at a glance, the two commands, where to go next."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail into docs/"
    for page in sorted((README.parent / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in README.read_text(encoding="utf-8"), page.name
