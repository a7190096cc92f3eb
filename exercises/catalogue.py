"""The exercises, in reading order: which piece of nn/ each one is, what the student writes, and a hint.

An exercise names an nn/ module (or dcgan.py, for the training step), the top-level pieces (classes, functions) its file holds, and the functions
whose bodies the student writes (``blanks``). ``python -m exercises start NAME`` copies those pieces from the
module's current source with the bodies replaced by "not written yet"; ``--solution`` copies them whole.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    name: str              # what the student types: python -m exercises start NAME
    module: str            # the nn/ module the pieces come from
    pieces: tuple          # its top-level classes and functions that the student's file holds
    blanks: tuple          # "Class.method" or "function": the bodies the student writes
    kind: str              # how it is checked: layer, loss, im2col, adam, ema, step (exercises/checking.py)
    asks: str              # one line for `list`
    hint: str              # said by "not written yet" and by `list`
    minutes: int           # about how long a student takes (docs/exercises.md)


EXERCISES = [
    Exercise("relu", "nn.activations", ("ReLU",), ("ReLU.forward", "ReLU.backward"), "layer",
             "ReLU: y = max(x, 0); keep what backward needs, then dx = dy * dy/dx",
             "dy/dx = [x > 0]: compute it in forward (is_positive), self._save it, multiply in backward", 10),
    Exercise("leaky_relu", "nn.activations", ("LeakyReLU",), ("LeakyReLU.forward", "LeakyReLU.backward"), "layer",
             "LeakyReLU(a): y = x if x > 0 else a*x, and its backward",
             "d = dy/dx is 1 where x > 0, else a; then y = d * x and dx = dy * d", 10),
    Exercise("tanh", "nn.activations", ("Tanh",), ("Tanh.backward",), "layer",
             "Tanh's backward from its saved output",
             "dy/dx = 1 - y^2, with y the output forward saved", 5),
    Exercise("sigmoid", "nn.activations", ("Sigmoid",), ("Sigmoid.backward",), "layer",
             "Sigmoid's backward from its saved output",
             "dy/dx = y (1 - y), with y the output forward saved", 5),
    Exercise("bce", "nn.losses", ("BCEWithLogits",), ("BCEWithLogits.__call__",), "loss",
             "binary cross-entropy on logits: a loss that never overflows, and its gradient",
             "loss = mean(max(x, 0) - x t + log(1 + e^-|x|)); dloss/dx = (sigmoid(x) - t) / N", 15),
    Exercise("linear", "nn.linear", ("Linear",), ("Linear.backward",), "layer",
             "Linear's backward: dW, db, dx",
             "y = x W^T + b: dW = dy^T x, db = sum of dy over the batch, dx = dy W", 10),
    Exercise("im2col", "nn.im2col", ("im2col", "col2im"), ("im2col", "col2im"), "im2col",
             "im2col (image -> columns of windows), and col2im as its adjoint",
             "loop over kernel offsets (i, j): one strided slice each; col2im adds (+=) where windows overlap", 30),
    Exercise("conv2d", "nn.conv", ("Conv2d",), ("Conv2d.backward",), "layer",
             "Conv2d's backward: dW from the saved columns, db, dx as a transposed convolution",
             "dW = rows(dy) @ cols.T reshaped; db = sum of dy over (N, H, W); dx = conv_transpose2d(dy, W, ...)", 20),
    Exercise("conv_transpose2d", "nn.conv", ("ConvTranspose2d",), ("ConvTranspose2d.forward", "ConvTranspose2d.backward"),
             "layer", "ConvTranspose2d as the convolution's adjoint: its forward and backward",
             "forward is conv_transpose2d(x, W, out_hw, s, p) + b; backward: dx is conv2d(dy, W), dW = rows(x) @ cols.T",
             25),
    Exercise("batchnorm", "nn.batchnorm", ("BatchNorm", "BatchNorm2d", "BatchNorm1d"), ("BatchNorm.backward",),
             "layer", "BatchNorm's backward: the paths through the mean and the variance",
             "dbeta = sum(dy), dgamma = sum(dy * xhat); g = dy * gamma; training: dx = (g - mean(g) - xhat * "
             "mean(g * xhat)) / std; eval: dx = g / std", 30),
    Exercise("adam", "nn.optim", ("Adam",), ("Adam.update",), "adam",
             "Adam's update of one parameter, with bias correction",
             "m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; m_hat = m / (1-b1^t); v_hat likewise; "
             "p -= lr m_hat / (sqrt(v_hat) + eps), all in place (m[...] = ..., p -= ...)", 15),
    Exercise("ema", "nn.ema", ("EMA",), ("EMA.current_decay", "EMA.move_towards"), "ema",
             "the averaged generator's update: the decay with its warm-up, and the move towards the weights",
             "d_t = min(decay, (1 + t) / (10 + t)); a = d a + (1 - d) w in place (a[...] = ...)", 10),
    Exercise("dcgan_step", "dcgan", ("Trainer",), ("Trainer.step",), "step",
             "one DCGAN training step: what flows into D's and G's gradients, and what must not",
             "(1) D.zero_grad(); D on the real batch (self.d_input) against cfg.real_label, then on G(z) against "
             "0, both D.backward (they add up), opt_D.step(); (2) G.zero_grad(); with frozen(D): the fake batch "
             "through the updated D against 1, G.backward(self.g_part(D.backward(...))); opt_G.step(); the "
             "average; step_count += 1; return self.statistics(...)", 30),
]

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
