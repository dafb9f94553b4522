"""training/recipe.py and recipes/*.yaml: each recipe trains its shipped result again, and a
recipe that could not make a run is refused in one line naming the file and the setting.
(main.py --recipe on a tiny run: tests/test_main.py; sweep.py --recipe: tests/test_sweep.py.)"""

from __future__ import annotations

import csv
import importlib.resources
import re
from pathlib import Path

import pytest
import yaml

from training.config import COMMAND_LINE, ConfigError, RunConfig, resumable_settings
from training.recipe import load_recipe, recipe_names, with_recipe
from training.runs import load_config

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
SHIPPED = [
    "cartpole", "standing", "standing-robust", "bolla-rolla", "bolla-rolla-upright",
    "bolla-rolla-upright-robust",
]  # fmt: skip
# The fast recipes, each found by a search whose report is in results/sweeps/<folder>/search
# and verified on fresh seeds in results/sweeps/<folder>: recipe -> folder.
FAST = {
    "cartpole-fast": "cartpole-fast",
    "cartpole-fast-sac2": "cartpole-fast",
    "standing-fast": "standing-fast",
    "bolla-rolla-upright-fast": "bolla-rolla-upright-fast",
}
# A setting a fast recipe took from an experiment made after its search, on seeds the
# verification did not use (its report beside the search's, to compare with the search's value;
# the recipe's header names it): recipe -> {setting: the experiment's folder}.
AFTER_SEARCH = {"bolla-rolla-upright-fast": {"start_noise": "start-noise"}}
# A fast recipe that is not its search's best but the candidate closest to a target no
# candidate met (its header names the candidate and says why), from a search whose report was
# not archived: the search is named by its space, whose header holds the command.
CLOSEST = {"bolla-rolla-upright-robust-fast": "bolla-rolla-upright-robust"}
# Settings that do not change what a run learns, left out of the comparison with the shipped
# results (and out of the recipes): where checkpoints and recordings go and how often, how the
# run is watched, the threads (runs repeat exactly across thread settings). Every one may change
# on --recover; n_games may too, but it is the run's budget, so recipes keep it. The recipe
# itself is where the settings came from, not a setting of learning.
RUN_ONLY = {
    "save_every", "keep_buffers", "record_steps", "no_record", "zoom", "tf_threads",
    "no_progress", "tensorboard",
}  # fmt: skip
NOT_COMPARED = RUN_ONLY | {"recipe"}


def test_the_run_only_settings_are_the_resumable_ones_but_the_budget():
    """A new setting must be placed: compared (it changes learning) or run-only."""
    assert RUN_ONLY == resumable_settings() - {"n_games"}


def test_there_is_one_recipe_per_shipped_result_named_like_its_folder():
    names = sorted([*SHIPPED, *FAST, *CLOSEST])
    assert sorted(p.stem for p in RECIPES.glob("*.yaml")) == names == recipe_names()
    for name in SHIPPED:
        assert (REPO / "results" / f"{name}-seed0" / "config.json").is_file(), name
    for folder in FAST.values():
        assert (REPO / "results" / "sweeps" / folder / "search" / "search.csv").is_file(), folder
    # The installed package data is the repository's folder (pip install -e .).
    installed = importlib.resources.files("training.recipes")
    assert sorted(p.name for p in installed.iterdir() if p.name.endswith(".yaml")) == sorted(
        f"{name}.yaml" for name in names
    )


def verified_trials(folder: Path, name: str) -> list[dict[str, str]]:
    """The recipe's rows of the verification report in `folder` (none before it exists). A
    report of the recipe's sweep alone, without the reference's beside it, has no recipe
    column: its trials are all the recipe's."""
    if not (folder / "trials.csv").is_file():
        return []
    with open(folder / "trials.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if r.get("recipe", name) == name]


@pytest.mark.parametrize("name", sorted(FAST))
def test_a_fast_recipe_is_its_searchs_best_candidate_of_its_update(name):
    """A fast recipe holds the values of the best complete candidate of its search that uses
    its update (`algo`), to 3 significant digits; CrossQ's leaves tau out (it has no target
    networks). Its header names the search and the verification; the averaged actor it may
    hand over does not change learning, so a search may leave it out."""
    folder = REPO / "results" / "sweeps" / FAST[name]
    text = (RECIPES / f"{name}.yaml").read_text(encoding="utf-8")
    header = " ".join(line for line in text.splitlines() if line.startswith("#"))
    assert f"results/sweeps/{FAST[name]}/search" in header and f"--recipe {name}" in header
    values = yaml.safe_load(text)
    with open(folder / "search" / "search.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["complete"] == "True"]
    best = min((r for r in rows if r["algo"] == values["algo"]),
               key=lambda r: float(r["objective_minutes"]))  # fmt: skip
    searched = [k for k in rows[0] if k in RunConfig().to_dict() and best[k] != ""]
    if values["algo"] == "crossq" and "tau" in searched:  # a search before tau was conditional
        searched.remove("tau")
    resolved = RunConfig.from_mapping(with_recipe({"recipe": name, "seed": "0"}), COMMAND_LINE)
    for key in searched:
        found = yaml.safe_load(best[key])
        expected = pytest.approx(found, rel=5e-3) if isinstance(found, float) else found
        assert getattr(resolved, key) == expected, (name, key)
    # Beside them only the task, its budget, the hand-over (the averaged actor) and the
    # settings the search held fixed for every candidate (its best.yaml's others).
    fixed = yaml.safe_load((folder / "search" / "best.yaml").read_text(encoding="utf-8"))
    after_search = AFTER_SEARCH.get(name, {})
    for key in values.keys() - {*searched, *after_search, "env_name", "n_games", "average_actor"}:
        assert key in fixed and key not in rows[0], (name, key)
        assert getattr(resolved, key) == fixed[key], (name, key)
    # Verified on seeds the search never trained, every one of them solved; until then, the
    # header says it is to be verified.
    verified = verified_trials(folder, name)
    if not verified:
        assert "to be verified" in header, name
        return
    search_seeds = {int(seed) for r in rows for seed in r["seeds"].split()}
    assert len(verified) >= 5 and not {int(r["seed"]) for r in verified} & search_seeds
    for key, experiment in after_search.items():
        assert f"results/sweeps/{FAST[name]}/{experiment}" in header, (name, key)
        assert key not in searched and getattr(resolved, key) != fixed.get(key), (name, key)
        trials = verified_trials(folder / experiment, name)
        assert trials and all(r["solved"] == "true" for r in trials), (name, experiment)
        seeds = {int(r["seed"]) for r in trials}
        assert not seeds & {int(r["seed"]) for r in verified}, (name, experiment)
    assert all(r["solved"] == "true" for r in verified), name


@pytest.mark.parametrize("name", sorted(CLOSEST))
def test_a_closest_recipe_is_the_candidate_its_search_proposed(name):
    """The search's sampler is seeded and its first ten candidates are random draws whatever
    the results, so the candidate the header names is drawn again from the search's space and
    base (the command in the space's header); the recipe makes the candidate's run, its values
    to 3 significant digits, all but the budget. Verified on seeds the search never trained, once
    results/sweeps/<name>/trials.csv exists; until then the header says it is to be verified."""
    from tools.sweeping.search import build_search, candidate_values, proposer, tune_space

    text = (RECIPES / f"{name}.yaml").read_text(encoding="utf-8")
    header = " ".join(line[1:].strip() for line in text.splitlines() if line.startswith("#"))
    space = REPO / "spaces" / f"{CLOSEST[name]}.yaml"
    command = " ".join(
        line[1:].strip().rstrip("\\").strip()
        for line in space.read_text(encoding="utf-8").splitlines()[:4]
    )
    samples, seeds, sets, cap = re.search(
        r"--recipe \S+ --samples (\d+) --seeds ([\d ]+) --set (\S+) --time_cap (\S+)", command
    ).groups()
    assert f"--recipe {CLOSEST[name]} " in command and f"spaces/{space.name}" in header
    spec = build_search(space, None, [int(s) for s in seeds.split()], [sets], CLOSEST[name],
                        int(samples), float(cap))  # fmt: skip
    searcher = proposer()
    searcher.set_search_properties("objective", "min", {"search": tune_space(spec.space)})
    proposed = {}
    for number in range(int(samples)):
        values = candidate_values(searcher.suggest(f"trial{number}"), spec)
        proposed[spec.candidate_key(values)] = values
    key = re.search(r"Candidate (c[0-9a-f]{10}) ", header).group(1)
    assert key in proposed, (key, sorted(proposed))
    resolved = RunConfig.from_mapping(with_recipe({"recipe": name, "seed": "0"}), COMMAND_LINE)
    searched = spec.config(proposed[key], 0).to_dict()

    def near(value: object, wanted: object) -> bool:  # to 3 significant digits
        return value == (pytest.approx(wanted, rel=5e-3) if isinstance(wanted, float) else wanted)

    run = resolved.to_dict().items()
    differ = {k for k, v in run if k not in NOT_COMPARED and not near(v, searched[k])}
    assert differ == {"n_games"}, differ  # the budget
    verified = verified_trials(REPO / "results" / "sweeps" / name, name)
    if not verified:
        assert "to be verified" in header, name
        return
    assert len(verified) >= 5 and not {int(r["seed"]) for r in verified} & set(spec.seeds)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_recipe_resolves_to_its_shipped_result(name):
    """`main.py --recipe NAME --seed 0` makes the settings of results/NAME-seed0 in everything
    that changes learning (the seed is the folder's; a recipe names none)."""
    text = (RECIPES / f"{name}.yaml").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert text.startswith("# ") and f"results/{name}-seed0" in " ".join(header), name
    values = yaml.safe_load(text)
    assert isinstance(values, dict) and "seed" not in values
    assert not values.keys() & NOT_COMPARED, "a recipe holds only settings of learning"
    defaults = RunConfig().to_dict()
    resolved = RunConfig.from_mapping(with_recipe({"recipe": name, "seed": "0"}), COMMAND_LINE)
    repeated = [k for k in values if k != "env_name" and getattr(resolved, k) == defaults[k]]
    assert not repeated, f"{name}.yaml repeats defaults: {repeated}"
    shipped = load_config(REPO / "results" / f"{name}-seed0")
    differ = {
        key: (value, shipped[key])
        for key, value in resolved.to_dict().items()
        if key not in NOT_COMPARED and value != shipped[key]
    }
    assert not differ, f"recipes/{name}.yaml differs from results/{name}-seed0: {differ}"
    assert resolved.recipe == name


def test_flags_override_a_recipe_and_the_recipe_is_recorded():
    values = with_recipe({"recipe": "standing-robust", "start_noise": "0.1", "n_games": "5"})
    config = RunConfig.from_mapping(values, COMMAND_LINE)
    assert (config.env_name, config.train_push, config.perturb_ramp) == (
        "HumanoidStandingEnvironment", 1.0, 300,
    )  # fmt: skip
    assert (config.start_noise, config.n_games, config.recipe) == (0.1, 5, "standing-robust")
    assert with_recipe({"gamma": "0.9"}) == {"gamma": "0.9"}  # no recipe: as given


def test_a_recipe_file_is_recorded_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "mine.yml").write_text("# mine\nenv_name: bolla-rolla\nupright: yes\n")
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe("mine.yml")
    assert recipe.settings == {"env_name": "bolla-rolla", "upright": True}
    assert recipe.label == str((tmp_path / "mine.yml").resolve()) and recipe.source == "mine.yml"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("env_name: standing\nn_episodes: 3\n", "{path}: unknown setting 'n_episodes'"),
        ("gamma: 1.5\n", "{path}: gamma must lie in (0, 1] (got 1.5)"),
        ("n_games: many\n", "{path}: n_games must be a whole number (got 'many')"),
        ("upright: true\n", "{path}: upright applies to bolla-rolla only"),
        ("recipe: standing\n", "{path}: a recipe cannot name another recipe ('recipe')"),
        ("gamma: [0.9\n", "{path} is not valid YAML (line 2)"),
        ("- gamma\n", "{path} is not a recipe: it must hold `setting: value` lines"),
        ("# nothing\n", "{path} is not a recipe: it must hold `setting: value` lines"),
    ],
)
def test_a_bad_recipe_is_one_line_naming_the_file_and_the_setting(tmp_path, content, message):
    path = tmp_path / "x.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_recipe(str(path))
    assert str(error.value) == message.format(path=path)


def test_a_name_no_recipe_has_lists_the_recipes_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_recipe("standing-robustt")
    assert str(error.value) == (
        "--recipe: no recipe named 'standing-robustt'; the recipes are "
        f"{', '.join(sorted([*SHIPPED, *FAST, *CLOSEST]))} (or give the path of a .yaml file)"
    )
    with pytest.raises(ConfigError, match=r"^--recipe: \S+/gone.yaml does not exist$"):
        load_recipe(str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"^--recipe: cannot read \S+ \(Is a directory\)$"):
        load_recipe(str(tmp_path) + "/")
