"""nn.EMA, the averaged generator: the recurrence by hand, the warm-up, buffers, training untouched."""
import numpy as np
import pytest

import nn
from nn import backend


def _pair():
    backend.seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    backend.seed(1)
    average = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    return model, average


def _host(model):
    return {k: v.astype(np.float64) for k, v in model.state_dict().items()}


def test_ema_follows_the_recurrence_with_warm_up(xp_backend):
    model, average = _pair()
    ema = nn.EMA(model, average, decay=0.5)
    for k, v in _host(model).items():
        np.testing.assert_array_equal(_host(average)[k], v)            # a_0 = w_0
    expected = _host(model)
    rng = np.random.default_rng(2)
    decays = []
    for t in range(4):
        x = backend.to_device(rng.standard_normal((8, 3)))
        model.forward(x)                                              # moves BN's running statistics
        model.clear_cache()
        for p in model.parameters():
            p.data = p.data + backend.to_device(rng.standard_normal(p.shape))
        d = min(0.5, (1 + t) / (10 + t))
        decays.append(ema.current_decay())
        ema.update()
        w = _host(model)
        expected = {k: d * expected[k] + (1 - d) * w[k] for k in w}
    assert decays == pytest.approx([0.1, 2 / 11, 0.25, 4 / 13])
    for k, v in _host(average).items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert "0.running_mean" not in dict(average.named_parameters())  # buffers averaged, as buffers


def test_ema_reaches_its_decay_and_never_touches_the_model(xp_backend):
    model, average = _pair()
    before = _host(model)
    ema = nn.EMA(model, average, decay=0.99)
    ema.t = 10_000
    assert ema.current_decay() == 0.99
    ema.update()
    for k, v in _host(model).items():
        np.testing.assert_array_equal(v, before[k])
    assert all(not p.requires_grad for p in average.parameters())


def test_ema_state_round_trip_and_bad_decay():
    model, average = _pair()
    ema = nn.EMA(model, average, decay=0.9)
    ema.update()
    again = nn.EMA(model, _pair()[1], decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert (again.t, again.decay) == (1, 0.9)
    with pytest.raises(ValueError, match="decay must be in"):
        nn.EMA(model, average, decay=1.0)


def test_the_average_is_updated_in_place(xp_backend):
    """An array of the average taken before training is the array the average keeps: updates and
    load_state_dict change it in place, as PyTorch's optimisers do."""
    model, average = _pair()
    ema = nn.EMA(model, average, decay=0.5)
    kept = [p.data for p in average.parameters()]
    rng = np.random.default_rng(4)
    for step in range(3):
        if step == 1:
            average.load_state_dict(average.state_dict())
        for p in model.parameters():
            p.data[...] = p.data + backend.to_device(rng.standard_normal(p.shape))
        before = _host(average)
        ema.update()
        assert any((before[k] != v).any() for k, v in _host(average).items())
    assert all(a is p.data for a, p in zip(kept, average.parameters()))
