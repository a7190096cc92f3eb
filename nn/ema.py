"""An exponential moving average (EMA) of a model's weights: the averaged generator.

In a GAN, G and D play a min-max game, and plain gradient steps do not
settle at its equilibrium: they circle around it. G's weights at any one
step are a point on that circle; their average over the last few hundred
steps sits nearer the middle (Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training"; ProGAN and StyleGAN sample
from such an average). Training is unchanged: the average is a second copy
of G that only ever *reads* G's weights.

After every G step, for every parameter w of G and its average a::

    a_t = d_t * a_{t-1} + (1 - d_t) * w_t

Unrolled, a_t is a weighted mean of all past weights with weights falling
off as d^k: most of it comes from the last 1 / (1 - d) steps (100 steps for
d = 0.99, 1,000 for 0.999). A long memory smooths more but also remembers
the early, poor weights: on a short run 0.999 is worse than no average.
So d ramps up with the step count t (the warm-up TensorFlow's
ExponentialMovingAverage uses with ``num_updates``)::

    d_t = min(decay, (1 + t) / (10 + t))          t = 0, 1, 2, ...

which starts at 0.1 (the average follows the weights closely), is 0.9 at
t = 80 and 0.99 at t = 890, and reaches ``decay`` only once the run is long
enough for that memory to hold mostly trained weights.

BatchNorm. G's running statistics are buffers, not trained weights; they
are averaged the same way, so the averaged G in eval mode (``--bn-stats
running``) normalises with statistics of roughly the same window of
training. By default samples use batch statistics (docs/usage.md), which the
averaged G computes from its own activations, so they fit its weights
exactly.

Usage::

    G_avg = build_generator(...)                 # same architecture as G
    ema = EMA(G, G_avg, decay=0.999)             # starts as a copy of G
    ... after every optimiser step on G:  ema.update()
    images = G_avg.forward(z)

(``nn/fast/ema.py``: the same update as one GPU kernel per array.)
"""


class EMA:
    def __init__(self, model, average, decay=0.999):
        """Keep ``average`` (a Module of ``model``'s architecture) as the EMA of ``model``'s weights."""
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.model, self.average, self.decay = model, average, decay
        self.t = 0                                   # updates so far
        average.load_state_dict(model.state_dict())  # a_0 = w_0
        average.requires_grad_(False)

    def current_decay(self):
        """d_t = min(decay, (1 + t) / (10 + t))."""
        return min(self.decay, (1.0 + self.t) / (10.0 + self.t))

    def update(self):
        """a = d a + (1 - d) w for every parameter and buffer of the average, in place, then t += 1."""
        d = self.current_decay()
        for a, w in self.pairs():
            self.move_towards(a, w, d)
        self.t += 1

    def move_towards(self, a, w, d):
        """a = d a + (1 - d) w, in place: a stays the same array."""
        a[...] = d * a + (1 - d) * w

    def pairs(self):
        """(the average's array, the model's array of the same name), parameters then buffers."""
        weights = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        pairs = [(a.data, weights[name].data) for name, a in self.average.named_parameters()]
        return pairs + [(a, buffers[name]) for name, a in self.average.named_buffers()]

    def state_dict(self):
        """The update count and the decay; the averaged weights are ``average.state_dict()``."""
        return {"t": self.t, "decay": self.decay}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.decay = float(state["decay"])
