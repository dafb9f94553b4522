"""SAC update throughput against this machine's float32 arithmetic limit.

For the three environment sizes (state/action 4/1, 30/4, 60/8; networks 512/256, batch 256) it
measures SAC updates per second through `SACAgent.learn` (batch sampling in NumPy included):

- eager:          the same update run op by op (`learn_from_batches(..., eager=True)`)
- XLA 1/call:     one update per compiled call (`learn(1)`, jit_compile=True, the default)
- graph 8/call:   8 updates per tf.function call without XLA (jit_compile=False)
- XLA 8, 32/call: 8 or 32 updates per compiled call (`learn(8)`, `learn(32)`)

and, in the same run, the float32 matrix-multiply rate of the machine (tf.matmul of two
4096 x 4096 matrices). FLOPs per update are counted analytically from the layer sizes (matrix
products only; activations, losses and Adam add well under 1 %): a Dense layer on B rows from
n_in to n_out costs 2 * B * n_in * n_out for the forward pass, as much again for the weight
gradient and again for the input gradient. One update makes these passes (F forward only, W
weight gradients, I input gradients; the first layer's input gradient is skipped where nothing
upstream needs it):

    actor(s)                       F + W + I (I stops below layer 2)
    Q1, Q2 (s, a~)                 F + I (down to the action input); one sample a~ serves the
                                   value target and the actor loss
    V(s)                           F + W + I (I stops below layer 2)
    V'(s')                         F
    Q1, Q2 (s, a)                  F + W + I (I stops below layer 2)

A critic's first layer is split into a state part, computed once for both actions, and an action
part, so the input gradient at a~ touches only the action rows of its kernel.

`--check-flops` also sums the dot products of XLA's optimized HLO of one compiled update, as an
independent check of the count (60/8: 1.3067 GFLOP in the HLO against 1.3073 counted).

`--dot-floor` times every dot of one update alone, at its own shapes and transposition (the
weight gradients contract over the batch and run slower than the forward products), and adds
them up: the time an update would take if nothing but its matrix products cost anything, so a
ceiling for updates/s on this machine that is tighter than the square-matmul limit. It does so
twice: with XLA's dot kernels (what the compiled update uses) and with TensorFlow's MatMul op in
a plain graph (oneDNN on x86; faster for these shapes, but out of XLA's reach, and a plain graph
pays for each of the ~1,200 ops (constants aside) of one update: the "graph 8/call" column).

fraction = updates/s x FLOPs per update / matmul rate. Figures are medians over repeats; on a
machine shared with other jobs they vary from run to run.

Run: .venv/bin/python benchmarks/update_throughput.py [--repeats 5] [--threads N]
                                                      [--check-flops] [--dot-floor]
                                                      [--algo sac1 sac2] [--sizes cartpole]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

SIZES = ((4, 1, "cartpole"), (30, 4, "humanoid standing"), (60, 8, "bolla rolla"))
LAYER1, LAYER2, BATCH = 512, 256, 256
MATMUL_N = 4096


def dense_flops(batch: int, layers: list[tuple[int, int]], weights: bool, inputs: str) -> int:
    """FLOPs of one pass through `layers` [(n_in, n_out), ...].

    inputs: "none" (no input gradients), "hidden" (input gradients of every layer but the first,
    needed to reach the lower layers' weights), "all" (down to the network's input).
    """
    total = 0
    for i, (n_in, n_out) in enumerate(layers):
        product = 2 * batch * n_in * n_out
        total += product  # forward
        if weights:
            total += product
        if inputs == "all" or (inputs == "hidden" and i > 0):
            total += product
    return total


def update_flops(
    state: int,
    actions: int,
    h1: int = LAYER1,
    h2: int = LAYER2,
    batch: int = BATCH,
    algo: str = "sac1",
    policy_samples: int = 1,
    policy_delay: int = 1,
) -> float:
    """sac1 (one policy sample): the passes of the module docstring; a second policy sample
    adds Q1, Q2 (s, a~') F above their shared state part (the value target's sample needs no
    gradient). sac2 has no V(s) and no V'(s'); instead actor(s') F (the next action a') and
    Q1', Q2'(s', a') F. crossq: actor(s') F, each critic F + W + I on the joint batch of 2B rows
    (the batch statistics tie every row to the loss), and every `policy_delay`-th update
    actor(s) F + W + I and Q1, Q2 (s, a~) F + I (counted as their share per update)."""
    actor = [(state, h1), (h1, h2), (h2, actions), (h2, actions)]  # mean and std heads
    value = [(state, h1), (h1, h2), (h2, 1)]
    upper = [(h1, h2), (h2, 1)]  # a critic above its first layer
    critic_first = (
        2 * batch * state * h1  # state part, shared by both actions
        + 2 * 2 * batch * actions * h1  # action parts at a~ and at the buffer's action
        + 2 * batch * actions * h1  # input gradient at a~ (action rows only)
        + 2 * batch * (state + actions) * h1  # weight gradient from the critic loss
    )
    critic = [(state + actions, h1), (h1, h2), (h2, 1)]
    if algo == "crossq":  # the critics on the joint batch of 2B rows, the delayed actor
        return (
            dense_flops(batch, actor, weights=False, inputs="none")  # a' ~ pi(.|s')
            + 2 * dense_flops(2 * batch, critic, weights=True, inputs="hidden")
            + (
                dense_flops(batch, actor, weights=True, inputs="hidden")
                + 2 * dense_flops(batch, critic, weights=False, inputs="all")  # Q(s, a~), to a~
            )
            / policy_delay
        )
    if algo == "sac2":
        targets = dense_flops(batch, actor, weights=False, inputs="none") + 2 * dense_flops(
            batch, critic, weights=False, inputs="none"
        )  # a' ~ pi(.|s'), Q1', Q2'(s', a')
    else:
        targets = dense_flops(batch, value, weights=True, inputs="hidden") + dense_flops(
            batch, value, weights=False, inputs="none"
        )  # V(s) and its loss, V'(s')
    if algo == "sac1" and policy_samples == 2:  # Q1, Q2 at the second sample, forward only
        targets += 2 * (2 * batch * actions * h1 + dense_flops(batch, upper, False, "none"))
    return (
        dense_flops(batch, actor, weights=True, inputs="hidden")
        + targets
        + 2 * critic_first
        + 2 * dense_flops(batch, upper, weights=False, inputs="all")  # Q at a~, to the action
        + 2 * dense_flops(batch, upper, weights=True, inputs="all")  # Q at a, critic loss
    )


Dot = tuple[tuple[int, ...], tuple[int, ...], int, int]  # lhs shape, rhs shape, contracting dims


def hlo_dots(state: int, actions: int, algo: str = "sac1") -> list[Dot]:
    """The dot products in XLA's optimized HLO of one compiled update."""
    import tensorflow as tf

    agent = make_agent(state, actions, jit_compile=True, algo=algo)
    args = [
        tf.zeros((1, BATCH, state)),
        tf.zeros((1, BATCH, actions)),
        tf.zeros((1, BATCH)),
        tf.zeros((1, BATCH, state)),
        tf.zeros((1, BATCH)),
        tf.zeros((1, BATCH, agent.noise_samples, actions)),
    ]
    hlo = agent._learn_function.experimental_get_compiler_ir(*args)(stage="optimized_hlo")
    shapes: dict[str, tuple[int, ...]] = {}
    dots: list[Dot] = []
    for line in hlo.splitlines():
        match = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = \w+\[([\d,]*)\]", line)
        if match:
            shapes[match.group(1)] = tuple(int(d) for d in match.group(2).split(",") if d)
        match = re.search(
            r"= f32\[[\d,]*\]\{[^}]*\} dot\(%([\w.\-]+), %([\w.\-]+)\), "
            r"lhs_contracting_dims=\{(\d+)\}, rhs_contracting_dims=\{(\d+)\}",
            line,
        )
        if match:
            lhs, rhs, lhs_dim, rhs_dim = match.groups()
            dots.append((shapes[lhs], shapes[rhs], int(lhs_dim), int(rhs_dim)))
    return dots


def dot_flops(dot: Dot) -> int:
    lhs, rhs, lhs_dim, _ = dot
    return 2 * int(np.prod(lhs)) * int(np.prod(rhs)) // lhs[lhs_dim]


def dot_floor(
    state: int, actions: int, repeats: int, jit_compile: bool = True
) -> tuple[float, int, int]:
    """Seconds one update would take if every dot ran alone at its own measured speed.

    Each distinct dot of the update's HLO (shapes and which dimensions it contracts, so the
    transposed products of the weight gradients keep their own speed) is timed in a loop of 100
    repetitions, less the same loop without the dot. The fastest of `repeats` timings is kept
    (the cost of a fixed computation, with as little of other jobs' load as was seen), so the
    sum is a ceiling. jit_compile=True times XLA's own dot kernels; False times TensorFlow's
    MatMul op in a plain graph (oneDNN on x86), which XLA cannot call. Returns
    (seconds, dots, FLOPs).
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one tf.function per distinct dot is intended
    dots = hlo_dots(state, actions)
    reps = 100
    total = 0.0
    for dot, count in Counter(dots).items():
        lhs_shape, rhs_shape, lhs_dim, rhs_dim = dot
        lhs = tf.random.stateless_normal(lhs_shape, seed=(1, 2))
        rhs = tf.random.stateless_normal(rhs_shape, seed=(3, 4))

        def loop(with_dot: bool, lhs=lhs, rhs=rhs, lhs_dim=lhs_dim, rhs_dim=rhs_dim):
            @tf.function(jit_compile=jit_compile)
            def run(lhs, rhs):
                acc = tf.zeros(())
                for i in tf.range(reps):
                    moved = lhs + tf.cast(i, tf.float32) * 1e-9  # defeats loop hoisting
                    if with_dot and lhs.shape.rank == rhs.shape.rank == 2:
                        # MatMul with transpose flags: no separate transpose op in a graph
                        out = tf.matmul(
                            moved, rhs, transpose_a=lhs_dim == 0, transpose_b=rhs_dim == 1
                        )
                    elif with_dot:
                        out = tf.tensordot(moved, rhs, axes=[[lhs_dim], [rhs_dim]])
                    else:
                        out = moved
                    acc += tf.reshape(out, [-1])[0]
                return acc

            return lambda: run(lhs, rhs).numpy()

        with_dot = max(sample_rates(loop(True), reps, repeats))
        without = max(sample_rates(loop(False), reps, repeats))
        total += count * max(1.0 / with_dot - 1.0 / without, 0.0)
    return total, len(dots), sum(dot_flops(dot) for dot in dots)


def sample_rates(run: Callable[[], None], units_per_run: int, repeats: int) -> list[float]:
    """Units per second of `repeats` calls of `run`, after one warm-up call."""
    run()
    measured = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        measured.append(units_per_run / (time.perf_counter() - start))
    return measured


def median_rate(run: Callable[[], None], units_per_run: int, repeats: int) -> float:
    return float(np.median(sample_rates(run, units_per_run, repeats)))


def matmul_rate(repeats: int) -> float:
    import tensorflow as tf

    a = tf.random.stateless_normal((MATMUL_N, MATMUL_N), seed=(0, 1))
    b = tf.random.stateless_normal((MATMUL_N, MATMUL_N), seed=(0, 2))
    matmul = tf.function(tf.matmul)
    return median_rate(lambda: matmul(a, b).numpy(), 2 * MATMUL_N**3, repeats)


def make_agent(state: int, actions: int, jit_compile: bool, algo: str = "sac1"):
    """The default agent but one policy sample (as counted), or sac2."""
    from agent import SACAgent

    agent = SACAgent(
        state, actions, seed=0, max_size=20_000, jit_compile=jit_compile, policy_samples=1,
        algo=algo,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    n = 10_000
    memory = agent.memory
    memory.state_memory[:n] = rng.standard_normal((n, state))
    memory.new_state_memory[:n] = rng.standard_normal((n, state))
    memory.action_memory[:n] = rng.uniform(-1, 1, (n, actions))
    memory.reward_memory[:n] = rng.standard_normal(n)
    memory.terminal_memory[:n] = rng.uniform(size=n) < 0.05
    memory.mem_cntr = n
    return agent


def measure_size(state: int, actions: int, repeats: int, algo: str) -> dict[str, float]:
    xla = make_agent(state, actions, jit_compile=True, algo=algo)
    graph = make_agent(state, actions, jit_compile=False, algo=algo)
    eager_batches = xla.memory.sample_batches(2, BATCH)
    rates = {
        "eager": median_rate(
            lambda: xla.learn_from_batches(*eager_batches, eager=True), 2, max(3, repeats // 2)
        )
    }
    for label, agent, k, calls in (
        ("XLA 1/call", xla, 1, 16),
        ("graph 8/call", graph, 8, 4),
        ("XLA 8/call", xla, 8, 4),
        ("XLA 32/call", xla, 32, 1),
    ):
        rates[label] = median_rate(
            lambda agent=agent, k=k, calls=calls: [agent.learn(k) for _ in range(calls)],
            k * calls,
            repeats,
        )
    obs = np.zeros(state, dtype=np.float32)
    rates["act (us)"] = 1e6 / median_rate(
        lambda: [xla.choose_action(obs) for _ in range(200)], 200, repeats
    )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per figure")
    parser.add_argument("--threads", type=int, default=None, help="TF threads (default: TF's)")
    parser.add_argument(
        "--check-flops", action="store_true", help="also count the dots in XLA's optimized HLO"
    )
    parser.add_argument(
        "--dot-floor", action="store_true", help="also time every dot of one update alone"
    )
    parser.add_argument(
        "--algo", nargs="+", default=["sac1"], choices=["sac1", "sac2", "crossq"],
        help="the updates measured, one row each (default: sac1)",
    )  # fmt: skip
    parser.add_argument(
        "--sizes", nargs="+", default=None, metavar="WORD",
        help="only the environment sizes whose name has a WORD: cartpole, standing, bolla",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [s for s in SIZES if args.sizes is None or any(w in s[2] for w in args.sizes)]

    from agent import configure_threads

    configure_threads(args.threads)
    import tensorflow as tf

    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, threads {args.threads or 'default'}"
    )
    print(f"networks {LAYER1}/{LAYER2}, batch {BATCH}, medians over {args.repeats} repeats\n")
    matmul = [matmul_rate(args.repeats)]
    results = []
    for (state, actions, name), algo in ((size, a) for size in sizes for a in args.algo):
        rates = measure_size(state, actions, args.repeats, algo)
        matmul.append(matmul_rate(args.repeats))  # between sizes: load from other jobs varies
        results.append((state, actions, f"{name} {algo}", rates))
    peak = float(np.median(matmul))

    columns = ["eager", "XLA 1/call", "graph 8/call", "XLA 8/call", "XLA 32/call"]
    print(
        f"float32 matmul ({MATMUL_N}x{MATMUL_N}): {peak / 1e9:.0f} GFLOP/s "
        f"(median of {len(matmul)} measurements: "
        + ", ".join(f"{m / 1e9:.0f}" for m in matmul)
        + ")\n"
    )
    header = f"{'size':<24}{'GFLOP/upd':>10}{'limit':>8}" + "".join(f"{c:>14}" for c in columns)
    print("updates/s (fraction of the arithmetic limit)")
    print(header + f"{'act (us)':>10}")
    print("-" * (len(header) + 10))
    for state, actions, name, rates in results:
        flops = update_flops(state, actions, algo=name.split()[-1])
        limit = peak / flops
        cells = "".join(f"{rates[c]:>7.1f} ({rates[c] / limit:.2f})" for c in columns)
        label = f"{state}/{actions} {name}"
        print(f"{label:<24}{flops / 1e9:>10.3f}{limit:>8.0f}{cells}{rates['act (us)']:>10.0f}")
    print(
        "\nGFLOP/upd: matrix products of one update, counted from the layer sizes (forward, weight"
        "\nand input gradients of every network pass; see the docstring). limit = matmul rate /"
        "\nFLOPs per update. act: one choose_action call (NumPy forward pass), microseconds."
    )
    if args.check_flops:
        for (state, actions, _), algo in ((size, a) for size in sizes for a in args.algo):
            dots = hlo_dots(state, actions, algo)
            counted = update_flops(state, actions, algo=algo)
            print(
                f"{state}/{actions} {algo}: {sum(dot_flops(d) for d in dots) / 1e9:.4f} GFLOP in "
                f"XLA's HLO ({len(dots)} dots), {counted / 1e9:.4f} counted"
            )
    if args.dot_floor:
        print("\nevery dot of one update timed alone, at its own shape (a ceiling for updates/s)")
        for jit_compile, kernels in ((True, "XLA's dot kernels"), (False, "TF MatMul (oneDNN)")):
            print(kernels)
            for state, actions, name in sizes:
                seconds, n_dots, flops = dot_floor(state, actions, args.repeats, jit_compile)
                print(
                    f"  {state}/{actions} {name}: {n_dots} dots, {seconds * 1e3:.2f} ms -> at "
                    f"most {1 / seconds:.0f} updates/s ({flops / seconds / 1e9:.0f} GFLOP/s)"
                )


if __name__ == "__main__":
    main()
