"""Environment steps per second of the full training loop (act + step + store + learn).

    python benchmarks/train_throughput.py [--steps 400] [--repeats 3] [--envs cartpole ...]
        [--average_actor N [--act_averaged]] [--algo sac2] [--layers 256 256]
        [--update_every K] [--copies 2]

For each environment, with the default agent (512/256 networks, batch 256): the replay buffer is
first filled with random transitions and the compiled update warmed up, then the loop main.py runs
is timed over a fixed number of steps, with one update after every step (the reference's schedule)
and with K updates in one compiled call after every K steps (--update_every K). Prints medians
over the repeats; all figures come from one run, so compare them with each other. With
`--average_actor N` the agent also keeps the averaged actor (one more weight update per update),
and `--act_averaged` acts with it, as `main.py --act_averaged` does at the perturbations' full
share.

`--algo` and `--layers` choose the update and the hidden layer sizes; `--update_every 1` measures
the one-update schedule only. `--copies N` runs N copies of the measurement at once, each pinned
to a core of its own (os.sched_setaffinity, as `taskset -c i` would), and prints each copy's
figures: the conditions of a sweep's trials on an N-core machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time

ENVS = ["cartpole", "standing", "bolla-rolla"]


def measure(env, agent, steps: int, update_every: int, averaged: bool = False) -> float:
    """Steps per second of `steps` steps of the training loop."""
    observation, _ = env.reset()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        action = agent.choose_action(observation, averaged=averaged)
        next_observation, reward, terminated, truncated, _ = env.step(action)
        agent.remember(observation, action, reward, next_observation, terminated)
        observation = next_observation
        if step % update_every == 0:
            agent.learn(update_every)
        if terminated or truncated:
            observation, _ = env.reset()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    parser.add_argument("--update_every", type=int, default=8, help="K of the batched schedule")
    parser.add_argument("--envs", nargs="+", default=ENVS, help="environments to measure")
    parser.add_argument("--tf_threads", type=int, default=0, help="TF threads (0: default)")
    parser.add_argument("--average_actor", type=int, default=0, help="averaged actor, N updates")
    parser.add_argument("--act_averaged", action="store_true", help="act with the averaged actor")
    parser.add_argument(
        "--algo", default="sac1", choices=["sac1", "sac2", "crossq"], help="the update"
    )
    parser.add_argument("--layers", type=int, nargs=2, default=[512, 256], metavar="N",
                        help="hidden layer sizes (default: 512 256)")  # fmt: skip
    parser.add_argument("--copies", type=int, default=1, help="copies at once, pinned")
    parser.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.act_averaged and not args.average_actor:
        parser.error("--act_averaged needs --average_actor N")
    if args.copies > 1:
        run_copies(args.copies)
        return
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})

    from agent.agent import SACAgent, configure_threads

    configure_threads(args.tf_threads or None)
    from environment import create_environment

    print(f"full training loop, {args.algo} {args.layers[0]}/{args.layers[1]}, {args.steps} "
          f"steps x {args.repeats} repeats, medians"
          + (f", pinned to core {args.core}" if args.core is not None else ""))  # fmt: skip
    print(f"{'environment':<30} {'state/action':>12} {'K=1 steps/s':>12} "
          f"{'K=' + str(args.update_every) + ' steps/s':>13} {'ratio':>6}")  # fmt: skip
    for name in args.envs:
        env = create_environment(name)
        agent = SACAgent(
            env.observation_space.shape,
            env.action_space.shape[0],
            seed=0,
            average_actor=args.average_actor,
            algo=args.algo,
            layer1_size=args.layers[0],
            layer2_size=args.layers[1],
        )
        observation, _ = env.reset(seed=0)
        for _ in range(2 * agent.batch_size):  # fill the buffer with random transitions
            action = env.action_space.sample()
            next_observation, reward, terminated, truncated, _ = env.step(action)
            agent.remember(observation, action, reward, next_observation, terminated)
            observation = env.reset()[0] if terminated or truncated else next_observation
        gc.collect()
        gc.freeze()  # as main.py does before its loop
        rates = {}
        for k in dict.fromkeys((1, args.update_every)):
            measure(env, agent, 2 * k, k, args.act_averaged)  # compile and warm up
            rates[k] = statistics.median(
                measure(env, agent, args.steps, k, args.act_averaged) for _ in range(args.repeats)
            )
        sizes = f"{env.observation_space.shape[0]}/{env.action_space.shape[0]}"
        ratio = rates[args.update_every] / rates[1]
        print(f"{type(env.unwrapped).__name__:<30} {sizes:>12} {rates[1]:>12.1f} "
              f"{rates[args.update_every]:>13.1f} {ratio:>6.2f}", flush=True)  # fmt: skip
        env.close()


def run_copies(copies: int) -> None:
    """This command `copies` times at once, each copy pinned to its own core; their output."""
    cores = sorted(os.sched_getaffinity(0))[:copies]
    if len(cores) < copies:
        sys.exit(f"--copies {copies}: this process may use {len(cores)} core(s)")
    argv = [a for a in sys.argv[1:]]
    i = argv.index("--copies")
    del argv[i : i + 2]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, *argv, "--core", str(core)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        for core in cores
    ]
    for core, proc in zip(cores, procs, strict=True):
        out, _ = proc.communicate()
        print(f"-- copy on core {core}\n{out}", end="", flush=True)


if __name__ == "__main__":
    main()
