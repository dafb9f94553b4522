"""The README documents every flag of main.py (its table is made by training.config.flag_table),
so that --help, the code and the README cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import main

README = Path(__file__).resolve().parents[1] / "README.md"


def table_rows(text: str) -> list[str]:
    """The rows of every Markdown table in `text`, header and separator rows left out."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    return [row for row in rows if not set(row) <= set("|-: ")]


def test_every_flag_of_main_has_a_row_in_a_readme_table():
    rows = table_rows(README.read_text(encoding="utf-8"))
    flags = [a.option_strings[-1] for a in main.build_parser()._actions if a.dest != "help"]
    missing = [flag for flag in flags if not any(f"`{flag}`" in row for row in rows)]
    assert not missing, (
        f"README.md has no table row for {', '.join(missing)}: paste the table printed by "
        "python -c \"from training.config import flag_table; print(flag_table(), end='')\" "
        "into its Training section"
    )
