"""The project as a package (pyproject.toml): the library never imports the entry script, no
file edits sys.path, a wheel holds the packages and the recipes, and an editable install
imports them (and finds a recipe by name) from any folder."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.mutants import copy_repository

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "environment", "training", "tools")
NOT_OURS = (".venv", "build", "save", "sweeps", ".git")  # environments and generated output
# An edit of the import path: sys.path changed in place, assigned or extended, or a site dir.
SYS_PATH_EDIT = re.compile(
    r"\bsys\.path\s*(\.\s*(insert|append|extend|remove|pop|clear)\s*\(|\+=|=(?!=)"
    r"|\[[^\]]*\]\s*=(?!=))|\bsite\.addsitedir\s*\("
)


def python_files() -> list[Path]:
    return sorted(p for p in REPO.rglob("*.py") if p.relative_to(REPO).parts[0] not in NOT_OURS)


def test_no_python_file_edits_sys_path():
    """The packages import through the project's install (pip install -e .), the tests too."""
    edits = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in python_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SYS_PATH_EDIT.search(line)
    ]
    assert not edits, "edits of sys.path: " + "; ".join(edits)
    # What the pattern takes for an edit (written in two pieces: this file must not match).
    for edit in (".insert(0, here)", ".append(here)", "[:0] = [here]", " += [here]", " = []"):
        assert SYS_PATH_EDIT.search("sys.path" + edit), edit
    for use in (" == saved", "[0]", ":"):
        assert not SYS_PATH_EDIT.search("sys.path" + use), use


def test_no_module_outside_the_tests_imports_main():
    """main.py is the entry script: the library (its parser is training/train_cli.py), the
    tools and the benchmarks never import it."""
    importers = []
    for path in python_files():
        if path.relative_to(REPO).parts[0] == "tests":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(name == "main" or name.startswith("main.") for name in names):
                importers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not importers, "main.py imported by " + ", ".join(importers)


def pip(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_the_wheel_holds_the_packages_and_the_recipes(tmp_path):
    """pip wheel --no-deps . (on a copy of the repository: a build leaves build/ and an
    egg-info folder in the tree it builds, and this one is shared with other test runs)."""
    copy = tmp_path / "repo"
    copy_repository(copy)
    pip("wheel", "--no-deps", "--quiet", copy, "-w", tmp_path / "dist", cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        sources = {str(p.relative_to(REPO)) for p in (REPO / package).rglob("*.py")}
        assert sources and sources <= names, f"{package}: {sorted(sources - names)}"
    recipes = {f"training/recipes/{p.name}" for p in (REPO / "recipes").glob("*.yaml")}
    assert len(recipes) >= 6 and recipes <= names
    assert not [n for n in names if n.startswith("tests/") or n == "main.py"]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new virtualenv outside the repository with the project installed editable into it
    (pip install -e --no-deps). Its dependencies are this test's: a .pth line names this
    virtualenv's site-packages (a plain path: that folder's own .pth files, among them its
    install of the project, are not read), so nothing is downloaded."""
    import sysconfig

    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip("--python", python, "install", "--quiet", "--no-deps", "-e", REPO, cwd=venv.parent)
    return python


def test_an_editable_install_imports_the_packages_from_any_folder(fresh_venv, tmp_path):
    code = (
        "import agent, environment, training, tools._common\n"
        "from training.recipe import load_recipe\n"
        "print(agent.__file__, environment.__file__, training.__file__, tools._common.__file__)\n"
        "print(load_recipe('standing-robust').settings['perturb_ramp'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [fresh_venv, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    files, ramp = done.stdout.splitlines()
    assert all(Path(f).is_relative_to(REPO) for f in files.split()), files
    assert ramp == "300"
    # The scripts too, run from elsewhere: a tool imports tools._common and the packages.
    for script in ("main.py", "tools/evaluate.py"):
        done = subprocess.run(
            [fresh_venv, REPO / script, "--help"], cwd=tmp_path, env=env,
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0 and "--help" in done.stdout, done.stderr
