"""What Ray costs: two concurrent one-thread trials of tools/sweep.py against two plain main.py
runs started by hand at the same time, with the same settings.

    python benchmarks/sweep_overhead.py [--env_name bolla-rolla] [--n_games 30] [--rounds 2]

Both pairs train seeds 0 and 1 with tf_threads 1 and OMP_NUM_THREADS=1 (what Ray gives a
one-CPU worker), no recording and the defaults otherwise (the 512/256 networks, batch 256, one
update per step), each run capped at --n_games episodes of at most --max_steps steps. Steps/s
of each run come from its own train_log.csv, counted from the first episode that ends past
--warmup steps: the steps before the first batch (no updates) and the episode that compiles
the update are left out, and so is start-up, in both pairs.

Peak resident memory: ru_maxrss of each main.py process; for the sweep, VmHWM of each Ray
worker that ran a trial, read from /proc while it runs, and the largest total resident memory
of Ray's other processes (GCS, raylet, agents, idle workers) and the driver.

Prints the figures, asserts nothing. Other load on the machine slows both pairs alike only if
it is steady: --rounds 2 (the default) runs plain, sweep, sweep, plain, so that a steady drift
cancels out; compare figures of one run, and repeat it to see the spread.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS = (0, 1)
SAMPLE_EVERY = 0.25  # s between looks at /proc during the sweep
TRIAL_TITLE = "ImplicitFunc"  # in the process title Ray gives a worker running a trial


def settings(args: argparse.Namespace) -> dict[str, str]:
    """The settings of all four runs but the seed (main.py's flags, without the dashes)."""
    return {
        "env_name": args.env_name,
        "n_games": str(args.n_games),
        "max_steps": str(args.max_steps),
        "tf_threads": "1",
        "save_every": str(args.n_games),  # one checkpoint, at the end
        "no_record": "true",
        "no_progress": "true",
    }


def environment() -> dict[str, str]:
    """Of all the runs. Ray starts a one-CPU worker with OMP_NUM_THREADS=1 (NumPy's BLAS and
    oneDNN then use one thread); the plain runs get the same, or they would not be alike."""
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", RAY_USAGE_STATS_ENABLED="0")
    env.update(OMP_NUM_THREADS="1")
    return env


def steps_per_second(run_dir: Path, warmup: int) -> tuple[int, float]:
    """Steps counted and their rate, from the first episode that ends past `warmup` steps."""
    with open(run_dir / "train_log.csv", newline="") as handle:
        rows = [(int(r["total_steps"]), float(r["wall_time"])) for r in csv.DictReader(handle)]
    start = next((i for i, (steps, _) in enumerate(rows) if steps >= warmup), None)
    if start is None or start == len(rows) - 1:
        raise SystemExit(f"{run_dir}: too few steps past --warmup {warmup}; raise --n_games")
    steps = rows[-1][0] - rows[start][0]
    return steps, steps / (rows[-1][1] - rows[start][1])


def plain_runs(args: argparse.Namespace, root: Path) -> list[tuple[str, int, float, float]]:
    """Two main.py processes started together; (name, steps, steps/s, peak MiB) of each."""
    flags = []
    for key, value in settings(args).items():
        flags += [f"--{key}"] if value == "true" else [f"--{key}", value]
    processes = {}
    for seed in SEEDS:
        run_dir = root / f"plain-seed{seed}"
        command = [sys.executable, str(REPO / "main.py"), *flags, "--seed", str(seed)]
        processes[seed] = subprocess.Popen(
            [*command, "--save_dir", str(run_dir)],
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    results = []
    for seed, process in processes.items():
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"main.py seed {seed} failed: {process.stderr.read().decode()[-500:]}")
        steps, rate = steps_per_second(root / f"plain-seed{seed}", args.warmup)
        results.append((f"main.py seed {seed}", steps, rate, usage.ru_maxrss / 1024))
    return results


def _proc_status(pid: str) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _session(pid: str) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])


def sweep_runs(args: argparse.Namespace, root: Path) -> tuple[list, float]:
    """The same two runs as one sweep; (name, steps, steps/s, peak MiB) of each trial, and the
    peak MiB of everything else of Ray's (its services, idle workers, the driver)."""
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths
    command = [sys.executable, str(REPO / "tools" / "sweep.py"), "--name", "bench"]
    command += ["--storage", str(root), "--seeds", *map(str, SEEDS)]
    for key, value in settings(args).items():
        command += ["--env_name", value] if key == "env_name" else ["--set", f"{key}={value}"]
    driver = subprocess.Popen(
        command,
        env={**environment(), "RAY_TMPDIR": ray_tmp},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    trial_peaks: dict[str, float] = {}
    others_peak = 0.0
    try:
        while driver.poll() is None:
            others = 0.0
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if _session(entry.name) != driver.pid:
                        continue
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    status = _proc_status(entry.name)
                except (OSError, ValueError, IndexError):
                    continue  # gone meanwhile
                if "VmHWM" not in status:
                    continue  # a zombie
                if TRIAL_TITLE in title:  # Tune runs a trial in a folder named after it
                    trial = Path(os.readlink(entry / "cwd")).name
                    trial_peaks[trial] = int(status["VmHWM"].split()[0]) / 1024
                else:
                    others += int(status["VmRSS"].split()[0]) / 1024
            others_peak = max(others_peak, others)
            time.sleep(SAMPLE_EVERY)
    finally:
        if driver.poll() is None:
            driver.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    if driver.returncode != 0:
        raise SystemExit(f"the sweep failed: {driver.stderr.read().decode()[-500:]}")
    results = []
    for seed in SEEDS:
        steps, rate = steps_per_second(root / "bench" / "runs" / f"seed={seed}", args.warmup)
        peak = trial_peaks.get(f"seed={seed}", float("nan"))
        results.append((f"sweep trial seed {seed}", steps, rate, peak))
    return results, others_peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env_name", default="bolla-rolla", help="environment of all the runs")
    parser.add_argument("--n_games", type=int, default=30, help="episodes per run")
    parser.add_argument("--max_steps", type=int, default=50, help="episode cap")
    parser.add_argument("--warmup", type=int, default=300, help="steps left out at the start")
    parser.add_argument(
        "--rounds", type=int, default=2,
        help="1: plain pair, then sweep; 2: plain, sweep, sweep, plain (a steady drift of the "
        "machine's other load cancels out)",
    )  # fmt: skip
    args = parser.parse_args()

    print(
        f"{args.env_name}: pairs of runs of at most {args.n_games} x {args.max_steps} steps, 1 TF "
        f"thread each, on {os.cpu_count()} CPUs; rates after {args.warmup} steps"
    )
    plain, trials, others = [], [], 0.0
    for round_ in range(args.rounds):
        root = Path(tempfile.mkdtemp(prefix="sweep_overhead_"))
        try:
            for phase in ("plain", "sweep") if round_ % 2 == 0 else ("sweep", "plain"):
                if phase == "plain":
                    plain += [
                        (f"{name} ({round_ + 1})", *rest) for name, *rest in plain_runs(args, root)
                    ]
                else:
                    rows, ray_peak = sweep_runs(args, root)
                    trials += [(f"{name} ({round_ + 1})", *rest) for name, *rest in rows]
                    others = max(others, ray_peak)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'run (round)':<26} {'steps':>6} {'steps/s':>8} {'peak MiB':>9}")
    for name, steps, rate, peak in plain + trials:
        print(f"{name:<26} {steps:>6} {rate:>8.1f} {peak:>9.0f}")
    print(f"{'Ray and the driver':<26} {'':>6} {'':>8} {others:>9.0f}  (largest total)")
    plain_rate = sum(r for _, _, r, _ in plain) / len(plain)
    sweep_rate = sum(r for _, _, r, _ in trials) / len(trials)
    largest = max(p for *_, p in trials)
    print(f"mean steps/s: plain {plain_rate:.1f}, sweep {sweep_rate:.1f}")
    print(f"sweep / plain steps/s: {sweep_rate / plain_rate:.1%} (target >= 90%)")
    print(f"largest trial: {largest:.0f} MiB peak resident (target < 1536)")


if __name__ == "__main__":
    main()
