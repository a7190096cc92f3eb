"""The CPU's fused kernels: ``nn/fast``'s element-wise and per-channel work as numba loops on every core.

What ``cupy.fuse`` is to the GPU, ``numba.njit(parallel=True)`` is to the
CPU: a chain of operations compiled into one loop, one pass over memory
instead of one per operation, and ``prange`` spreads the loop over the cores.
Each function here computes what a ``@fused`` function (or, for BatchNorm,
a layer's whole forward or backward) of ``nn/fast`` computes, tested equal in
``tests/test_cpu_kernels.py``. ``cpu_kernels.py`` decides when they run and
hands them their arrays; this module needs numba and is imported only by it.

Shapes. An element-wise loop gets its arrays either flat (1-D, when every one
is contiguous in the same memory order) or as 4-D views in that order
(``rows``: a padded image, as col2im leaves it). BatchNorm gets (C, R, L)
views: channel first, then rows, each row L contiguous values where the
memory allows, one ``prange`` iteration per channel, which sums its own
channel (so the results do not depend on the number of threads).

Numbers. Every array is float32, and so is every number passed in
(``cpu_kernels`` makes them ``numpy.float32``): the loops compute in float32
as NumPy does, except the BatchNorm sums, which add in float64 (one pass
gives the mean and variance, mean(x^2) - mean(x)^2, without cancellation).
``FASTMATH`` lets the compiler reorder sums (vectorised adds) but keeps NaN
and infinity as IEEE says, so a diverging run still shows its NaNs.
"""
import numpy as np
from numba import njit, prange

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}      # no "nnan"/"ninf": NaN stays NaN
kernel = njit(parallel=True, cache=True, fastmath=FASTMATH)


# ------------------------------------------------------------------ activations (flat, then 4-D views)

@kernel
def relu_flat(x, y, d):
    """d = [x > 0] (0 at NaN, as nn's ReLU), y = x * d (NaN at NaN)."""
    for i in prange(x.shape[0]):
        v = x[i]
        s = np.float32(1.0) if v > 0 else np.float32(0.0)
        d[i] = s
        y[i] = v * s


@kernel
def leaky_relu_flat(x, a, y, d):
    """d = 1 where x > 0, else a (a at NaN, as nn's LeakyReLU), y = x * d (NaN at NaN)."""
    for i in prange(x.shape[0]):
        v = x[i]
        s = np.float32(1.0) if v > 0 else a
        d[i] = s
        y[i] = v * s


@kernel
def times_flat(dy, d, dx):
    """dx = dy * d."""
    for i in prange(dy.shape[0]):
        dx[i] = dy[i] * d[i]


@kernel
def times_tanh_derivative_flat(dy, y, dx):
    """dx = dy * (1 - y^2)."""
    for i in prange(dy.shape[0]):
        dx[i] = dy[i] * (np.float32(1.0) - y[i] * y[i])


@kernel
def times_rows(dy, d, dx):
    """dx = dy * d on 4-D views (any strides)."""
    A, B, C, D = dy.shape
    for ab in prange(A * B):
        i, j = ab // B, ab % B
        for k in range(C):
            for n in range(D):
                dx[i, j, k, n] = dy[i, j, k, n] * d[i, j, k, n]


@kernel
def times_tanh_derivative_rows(dy, y, dx):
    """dx = dy * (1 - y^2) on 4-D views (any strides)."""
    A, B, C, D = dy.shape
    for ab in prange(A * B):
        i, j = ab // B, ab % B
        for k in range(C):
            for n in range(D):
                v = y[i, j, k, n]
                dx[i, j, k, n] = dy[i, j, k, n] * (np.float32(1.0) - v * v)


# ------------------------------------------------------------------ BatchNorm, one channel per iteration

@kernel
def batchnorm_forward(x, gamma, beta, eps, y, mu, var, inv_std):
    """Per channel c of x (C, R, L): mu, var (biased), inv_std = 1 / sqrt(var + eps), then
    y = (x - mu) * (gamma * inv_std) + beta. Two passes over x: the sums, then y."""
    C, R, L = x.shape
    m = R * L
    for c in prange(C):
        s = 0.0
        ss = 0.0
        for r in range(R):
            for i in range(L):
                v = np.float64(x[c, r, i])
                s += v
                ss += v * v
        mean = s / m
        var_c = np.float32(max(ss / m - mean * mean, 0.0))
        mu_c = np.float32(mean)
        inv = np.float32(1.0 / np.sqrt(np.float64(var_c) + eps))
        var[c] = var_c
        mu[c] = mu_c
        inv_std[c] = inv
        k = gamma[c] * inv
        b = beta[c]
        for r in range(R):
            for i in range(L):
                y[c, r, i] = (x[c, r, i] - mu_c) * k + b


@kernel
def batchnorm_backward(dy, x, mu, inv_std, gamma, m, dx, dgamma, dbeta):
    """Per channel: dbeta = sum(dy), dgamma = sum(dy * xhat) with xhat = (x - mu) * inv_std, then
    dx = k * (dy - dbeta / m - xhat * dgamma / m), k = gamma * inv_std. Two passes over dy and x."""
    C, R, L = dy.shape
    for c in prange(C):
        s = 0.0
        sx = 0.0
        mu_c = mu[c]
        for r in range(R):
            for i in range(L):
                g = np.float64(dy[c, r, i])
                s += g
                sx += g * np.float64(x[c, r, i] - mu_c)
        inv = inv_std[c]
        db = np.float32(s)
        dg = np.float32(sx) * inv
        dbeta[c] = db
        dgamma[c] = dg
        k = gamma[c] * inv
        shift = db / m
        slope = inv * (dg / m)
        for r in range(R):
            for i in range(L):
                dx[c, r, i] = k * (dy[c, r, i] - shift - (x[c, r, i] - mu_c) * slope)


# ------------------------------------------------------------------ Adam and the average, in place, flat

@kernel
def adam_update(p, m, v, g, b1, b2, step_size, sqrt_c2, eps):
    """m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= step_size * m / (sqrt(v) / sqrt_c2 + eps)."""
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + (np.float32(1.0) - b1) * gi
        vi = b2 * v[i] + (np.float32(1.0) - b2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * mi / (np.sqrt(vi) / sqrt_c2 + eps)


@kernel
def move_towards(a, w, d):
    """a = d a + (1 - d) w."""
    for i in prange(a.shape[0]):
        a[i] = d * a[i] + (np.float32(1.0) - d) * w[i]


# ------------------------------------------------------------------ im2col and col2im in CHWN memory

@kernel
def im2col(x, s, pad, cols):
    """cols[c, i, j, oh, ow, :] = x[c, oh*s + i - pad, ow*s + j - pad, :], 0 where that falls on the
    padding: ``nn.fast.im2col``'s columns from the (C, H, W, N) image, no padded copy made first."""
    C, kh, kw, OH, OW, N = cols.shape
    _, H, W, _ = x.shape
    for cij in prange(C * kh * kw):
        c, i, j = cij // (kh * kw), (cij // kw) % kh, cij % kw
        for oh in range(OH):
            h = oh * s + i - pad
            for ow in range(OW):
                w = ow * s + j - pad
                if 0 <= h < H and 0 <= w < W:
                    for n in range(N):
                        cols[c, i, j, oh, ow, n] = x[c, h, w, n]
                else:
                    for n in range(N):
                        cols[c, i, j, oh, ow, n] = 0.0


@kernel
def col2im(cols, s, pad, x):
    """x[c, h, w, :] = the sum of cols[c, i, j, oh, ow, :] over the kernel offsets (i, j) whose window
    (oh, ow) covers pixel (h, w) (h = oh*s + i - pad), in the readable loop's order (i, then j):
    ``nn.fast.col2im``'s image, each pixel gathered once, no padded image in between."""
    C, kh, kw, OH, OW, N = cols.shape
    _, H, W, _ = x.shape
    for ch in prange(C * H):
        c, h = ch // H, ch % H
        for w in range(W):
            for n in range(N):
                x[c, h, w, n] = 0.0
            for i in range(kh):
                t = h + pad - i
                if t < 0 or t % s != 0 or t // s >= OH:
                    continue
                for j in range(kw):
                    u = w + pad - j
                    if u < 0 or u % s != 0 or u // s >= OW:
                        continue
                    for n in range(N):
                        x[c, h, w, n] += cols[c, i, j, t // s, u // s, n]
