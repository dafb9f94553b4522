"""The code base passes ruff's lint rules and formatting (configured in pyproject.toml), and
the environment it runs in is the one the requirement files pin."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
    )


def test_ruff_check():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_requirement_is_pinned_and_installed_at_its_pin():
    """Each line of requirements*.txt is `name==version` (a fresh clone then installs what the
    repo is tested with) and that version is the one installed here."""
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for path in sorted(REPO.glob("requirements*.txt")):
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==([^\s=]+)", line)
            if match is None:
                wrong.append(f"{path.name}: not pinned: {line}")
                continue
            name, _, pinned = match.groups()
            try:
                installed = version(name)
            except PackageNotFoundError:
                installed = "not installed"
            if installed != pinned:
                wrong.append(f"{path.name}: {name}=={pinned}, installed {installed}")
    assert not wrong, "\n".join(wrong)


MAX_FILE_LINES, MAX_FUNCTION_LINES = 600, 80


def test_no_module_or_function_outgrows_a_reading():
    """Outside tests/, no Python file over 600 lines and no function over 80: a module is read
    in one sitting, a function on one screen or two; a longer one is split where its parts
    have names of their own."""
    import ast

    too_long = []
    for path in sorted(REPO.rglob("*.py")):
        relative = path.relative_to(REPO)
        if relative.parts[0] in ("tests", ".venv", "save", "sweeps", "build"):
            continue
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_FILE_LINES:
            too_long.append(f"{relative}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{relative}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "split these: " + "; ".join(too_long)
