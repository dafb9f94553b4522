import numpy as np
import pytest

from agent.buffer import ReplayBuffer

STATE, ACTIONS = 3, 2


def _fill(buffer: ReplayBuffer, n: int, start: int = 0) -> None:
    """Transition i carries i in every field, so a sample tells where it came from."""
    for i in range(start, start + n):
        buffer.store_transition(
            np.full(STATE, i), np.full(ACTIONS, i), float(i), np.full(STATE, i + 0.5), i % 3 == 0
        )


def test_store_and_wrap_around():
    buffer = ReplayBuffer(5, STATE, ACTIONS, seed=0)
    _fill(buffer, 7)
    assert buffer.mem_cntr == 7 and len(buffer) == 5
    np.testing.assert_array_equal(buffer.reward_memory, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.state_memory[:, 0], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.new_state_memory[:, 0], [5.5, 6.5, 2.5, 3.5, 4.5])
    np.testing.assert_array_equal(buffer.terminal_memory, [False, True, False, True, False])
    assert buffer.state_memory.dtype == np.float32 and buffer.action_memory.dtype == np.float32


def test_sampling_stays_in_filled_part():
    buffer = ReplayBuffer(100, (STATE,), ACTIONS, seed=1)
    _fill(buffer, 10)
    states, actions, rewards, states_, terminated = buffer.sample_buffer(500)
    assert states.shape == (500, STATE) and actions.shape == (500, ACTIONS)
    assert rewards.shape == terminated.shape == (500,) and states_.shape == (500, STATE)
    assert terminated.dtype == np.float32
    assert set(rewards.astype(int)) == set(range(10))  # every stored row, nothing beyond
    np.testing.assert_array_equal(states[:, 0], rewards)
    np.testing.assert_array_equal(actions[:, 1], rewards)
    np.testing.assert_array_equal(states_[:, 0], rewards + 0.5)
    np.testing.assert_array_equal(terminated, (rewards.astype(int) % 3 == 0).astype(np.float32))


def test_sample_batches_block_shape_and_wrapped_bounds():
    buffer = ReplayBuffer(8, STATE, ACTIONS, seed=2)
    _fill(buffer, 20)
    states, actions, rewards, states_, terminated = buffer.sample_batches(4, 64)
    assert states.shape == states_.shape == (4, 64, STATE)
    assert actions.shape == (4, 64, ACTIONS) and rewards.shape == terminated.shape == (4, 64)
    assert set(rewards.ravel().astype(int)) == set(range(12, 20))  # the 8 newest


def test_empty_buffer_refuses_to_sample():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, STATE, ACTIONS).sample_buffer(2)


def test_same_seed_same_samples():
    a, b = ReplayBuffer(50, STATE, ACTIONS, seed=7), ReplayBuffer(50, STATE, ACTIONS, seed=7)
    _fill(a, 30)
    _fill(b, 30)
    for x, y in zip(a.sample_batches(2, 16), b.sample_batches(2, 16), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("n_stored", [6, 23])  # partly filled, wrapped
def test_save_load_round_trip(tmp_path, n_stored):
    buffer = ReplayBuffer(10, STATE, ACTIONS, seed=3)
    _fill(buffer, n_stored)
    buffer.sample_buffer(5)  # move the generator away from its seed
    path = tmp_path / "buffer.npz"
    buffer.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert len(data["state_memory"]) == min(n_stored, 10)  # only the filled part

    restored = ReplayBuffer(10, STATE, ACTIONS, seed=99)
    restored.load(path)
    assert restored.mem_cntr == buffer.mem_cntr
    for name in ReplayBuffer.ARRAYS:
        np.testing.assert_array_equal(getattr(restored, name), getattr(buffer, name))
    for x, y in zip(restored.sample_batches(3, 8), buffer.sample_batches(3, 8), strict=True):
        np.testing.assert_array_equal(x, y)
    _fill(restored, 4, start=100)
    _fill(buffer, 4, start=100)
    np.testing.assert_array_equal(restored.reward_memory, buffer.reward_memory)


@pytest.mark.parametrize("other", [(10, 4, ACTIONS), (10, STATE, 1), (12, STATE, ACTIONS)], ids=str)
def test_load_refuses_other_shapes(tmp_path, other):
    buffer = ReplayBuffer(10, STATE, ACTIONS, seed=0)
    _fill(buffer, 4)
    buffer.save(tmp_path / "buffer.npz")
    target = ReplayBuffer(*other)
    with pytest.raises(ValueError, match="holds states"):
        target.load(tmp_path / "buffer.npz")
    assert target.mem_cntr == 0
