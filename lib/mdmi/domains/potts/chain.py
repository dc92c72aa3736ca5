"""A Potts chain with couplings of range K: every probability it defines, exactly.

    p(x) = exp(E(x)) / Z,   E(x) = sum_i h[i, x_i] + sum_{d=1..K} sum_i J[i, d-1, x_i, x_{i+d}]

x is a sequence of L states in {0..q-1}. Couplings reach K positions, so a transfer matrix over the
last K states (q^K of them) sums over all q^L sequences in L steps. Everything else is a log
partition function of the chain with some positions *clamped* (fixed to a value):

- ``log_z(clamp)``        log Z with clamped positions, batched: clamp LongTensor[B, L], -1 = free
- ``marginals(x, free)``  p(x_i = a | visible positions), the exact conditionals an ideal MDM outputs
- ``pair_marginals``      p(x_i = a, x_j = b | visible), hence the exact conditional MI between free
                          positions (``conditional_mi``), which this chain's MDM should reproduce
- ``sample``              exact samples (chain rule over exact conditionals)
- ``log_prob``            log p(x) of complete sequences
- ``total_correlation``   KL(p(x_S | visible) || prod_i p(x_i | visible)) of a set S filled in
                          parallel: what filling S at once loses, zero iff S is independent given V
                          (``total_correlations``: many sets, batched)

Computations run in float64 (NumPy); log Z of a batch of B clamp patterns costs O(B L q^(K+1)).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np


@dataclass(eq=False)
class PottsChain:
    """h: float[L, q] fields; J: float[L, K, q, q], J[i, d-1, a, b] couples x_i = a with x_{i+d} = b
    (entries with i + d >= L are ignored)."""

    h: np.ndarray
    J: np.ndarray

    @property
    def length(self) -> int:
        return self.h.shape[0]

    @property
    def states(self) -> int:
        return self.h.shape[1]

    @property
    def range(self) -> int:
        return self.J.shape[1]

    @classmethod
    def random(
        cls, length: int, states: int, coupling_scale: list[float], field_scale: float, seed: int
    ):
        """Gaussian fields (sd ``field_scale``) and couplings (sd ``coupling_scale[d-1]`` at distance d)."""
        if length <= len(coupling_scale):
            raise ValueError(
                f"a chain of length {length} needs more positions than its coupling range {len(coupling_scale)}"
            )
        rng = np.random.default_rng(seed)
        h = rng.normal(0.0, field_scale, (length, states))
        J = np.stack([rng.normal(0.0, s, (length, states, states)) for s in coupling_scale], axis=1)
        return cls(h=h, J=J)

    # ------------------------------------------------------------------ partition functions
    def _unary(self, clamp: np.ndarray) -> np.ndarray:
        """float[B, L, q]: fields, with -inf on every value a clamped position does not take."""
        u = np.broadcast_to(self.h, (clamp.shape[0], *self.h.shape)).copy()
        fixed = clamp >= 0
        keep = np.zeros_like(u, dtype=bool)
        b, i = np.nonzero(fixed)
        keep[b, i, clamp[b, i]] = True
        u[fixed[..., None] & ~keep] = -np.inf
        return u

    def log_z(self, clamp: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """float[B]: log of the sum of exp(E) over sequences that agree with clamp[B, L] (-1 = free)."""
        clamp = np.asarray(clamp, dtype=np.int64)
        return (
            np.concatenate([self._log_z(clamp[s : s + chunk]) for s in range(0, len(clamp), chunk)])
            if len(clamp)
            else np.zeros(0)
        )

    def _transfer(self) -> np.ndarray:
        """float[L, q^K, q^K]: M[t, s, s'] = exp(couplings of x_t with the K positions before it) when
        the window s = (x_{t-K}..x_{t-1}) shifts into s' = (x_{t-K+1}..x_t), else 0 (rows t < K unused)."""
        if getattr(self, "_M", None) is None:
            L, q, K = self.length, self.states, self.range
            S = q**K
            digits = np.array(
                list(product(range(q), repeat=K))
            )  # [S, K]: window state -> its values
            M = np.zeros((L, S, S))
            shift = (
                (digits[:, 1:] * (q ** np.arange(K - 2, -1, -1))).sum(1)
                if K > 1
                else np.zeros(S, dtype=int)
            )
            for t in range(K, L):
                for s in range(S):
                    for b in range(q):
                        s_new = int(shift[s]) * q + b
                        e = sum(self.J[t - d, d - 1, digits[s, K - d], b] for d in range(1, K + 1))
                        M[t, s, s_new] = np.exp(e)
            self._M, self._last = M, digits[:, -1]
        return self._M

    def _log_z(self, clamp: np.ndarray) -> np.ndarray:
        L, q, K = self.length, self.states, self.range
        u = self._unary(clamp)  # [B, L, q]
        B = u.shape[0]
        # log-potential of the first window (x_0 .. x_{K-1}), then probability space with rescaling
        first = np.zeros((B,) + (q,) * K)
        for i in range(K):
            first = first + _along(u[:, i], i, K)
            for d in range(1, i + 1):
                first = first + _pair_along(self.J[i - d, d - 1], i - d, i, K)
        first = first.reshape(B, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_scale = first.max(1)
            alpha = np.exp(first - np.where(np.isfinite(log_scale), log_scale, 0.0)[:, None])
            M = self._transfer()
            field, last = (
                np.exp(u),
                self._last,
            )  # field[B, L, q]; last[q^K]: the value a window ends in
            for t in range(K, L):  # x_t enters the window, x_{t-K} leaves
                alpha = (alpha @ M[t]) * field[:, t, last]
                c = alpha.max(1)
                alpha = alpha / np.where(c > 0, c, 1.0)[:, None]
                log_scale = log_scale + np.log(c)
            total = alpha.sum(1)
            out = log_scale + np.log(total)
        return np.where(np.isnan(out), -np.inf, out)

    # ------------------------------------------------------------------ conditionals
    def marginals(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """float[N, L, q]: p(x_i = a | x at the visible positions) for sequences x[N, L] whose positions
        with free[N, L] True are unknown; a visible position gets a one-hot row."""
        x, free = np.asarray(x), np.asarray(free, dtype=bool)
        N, L = x.shape
        q = self.states
        base = np.where(free, -1, x)
        out = np.zeros((N, L, q))
        for n in range(N):
            idx = np.nonzero(free[n])[0]
            out[n, np.arange(L), np.where(free[n], 0, x[n])] = 1.0
            if not len(idx):
                continue
            rows = np.repeat(base[n][None], len(idx) * q, axis=0)
            rows[np.arange(len(idx) * q), np.repeat(idx, q)] = np.tile(np.arange(q), len(idx))
            lz = self.log_z(rows).reshape(len(idx), q)
            out[n, idx] = np.exp(lz - self.log_z(base[n][None])[0])
        return out

    def pair_marginals(self, x: np.ndarray, free: np.ndarray):
        """For one sequence x[L] with unknown positions free[L]: (idx int[M], single float[M, q],
        pair float[M, M, q, q]) with pair[m, n, a, b] = p(x_idx[m] = a, x_idx[n] = b | visible)."""
        x, free = np.asarray(x), np.asarray(free, dtype=bool)
        q = self.states
        idx = np.nonzero(free)[0]
        M = len(idx)
        base = np.where(free, -1, x)
        lz0 = self.log_z(base[None])[0]
        single = self.marginals(x[None], free[None])[0, idx]
        pair = np.zeros((M, M, q, q))
        iu, ju = np.triu_indices(M, k=1)
        if len(iu):
            rows = np.repeat(base[None], len(iu) * q * q, axis=0)
            ab = np.array(list(product(range(q), repeat=2)))  # [q*q, 2]
            r = np.arange(len(rows))
            rows[r, np.repeat(idx[iu], q * q)] = np.tile(ab[:, 0], len(iu))
            rows[r, np.repeat(idx[ju], q * q)] = np.tile(ab[:, 1], len(iu))
            p = np.exp(self.log_z(rows) - lz0).reshape(len(iu), q, q)
            pair[iu, ju] = p
            pair[ju, iu] = p.transpose(0, 2, 1)
        pair[np.arange(M), np.arange(M)] = single[:, :, None] * np.eye(q)[None]
        return idx, single, pair

    def conditional_mi(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """float[L, L]: exact I(x_i; x_j | visible) in nats between free positions (0 elsewhere and on
        the diagonal)."""
        L = len(x)
        idx, single, pair = self.pair_marginals(x, free)
        out = np.zeros((L, L))
        if len(idx) < 2:
            return out
        outer = single[:, None, :, None] * single[None, :, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(pair > 0, pair * (np.log(pair) - np.log(outer)), 0.0)
        mi = np.clip(terms.sum((-1, -2)), 0.0, None)
        np.fill_diagonal(mi, 0.0)
        out[np.ix_(idx, idx)] = mi
        return out

    # ------------------------------------------------------------------ sequences
    def energy(self, x: np.ndarray) -> np.ndarray:
        """float[N]: E(x) of complete sequences x[N, L]."""
        x = np.asarray(x)
        L = self.length
        e = self.h[np.arange(L), x].sum(-1)
        for d in range(1, self.range + 1):
            i = np.arange(L - d)
            e = e + self.J[i, d - 1, x[:, i], x[:, i + d]].sum(-1)
        return e

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """float[N]: exact log p(x) of complete sequences x[N, L]."""
        return self.energy(x) - self.log_z(np.full((1, self.length), -1))[0]

    def sample(self, n: int, seed: int, chunk: int = 2048) -> np.ndarray:
        """int64[n, L] exact samples: x_0 ~ p(x_0), then each x_t ~ p(x_t | x_<t), all exact."""
        rng = np.random.default_rng(seed)
        L, q = self.length, self.states
        out = np.full((n, L), -1, dtype=np.int64)
        for s in range(0, n, chunk):
            x = out[s : s + chunk]
            for t in range(L):
                rows = np.repeat(x, q, axis=0)
                rows[:, t] = np.tile(np.arange(q), len(x))
                lz = self.log_z(rows).reshape(len(x), q)
                p = np.exp(lz - lz.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                x[:, t] = (rng.random((len(x), 1)) > np.cumsum(p, 1)).sum(1).clip(max=q - 1)
        return out

    def total_correlation(
        self, x: np.ndarray, visible: np.ndarray, filled: np.ndarray, max_set: int
    ) -> float:
        """KL(p(x_S | x_V) || prod_{i in S} p(x_i | x_V)) in nats for the set S = ``filled`` (bool[L]) filled in
        parallel given the positions ``visible`` (bool[L]) of x[L]; other positions are summed out.
        NaN when |S| > max_set (the sum runs over q^|S| assignments). One set of
        :meth:`total_correlations`."""
        return float(self.total_correlations(x[None], visible[None], filled[None], max_set)[0])

    def total_correlations(
        self,
        x: np.ndarray,
        visible: np.ndarray,
        filled: np.ndarray,
        max_set: int,
        max_rows: int = 1 << 16,
    ) -> np.ndarray:
        """float[N]: :meth:`total_correlation` of N sets at once, x[N, L], visible[N, L], filled[N, L] (bool).

        Per set the clamp patterns it needs (the visible state, its q^|S| assignments of S, and each
        member of S at each value for the single marginals) go into one batch with those of other sets,
        up to ``max_rows`` patterns a :meth:`log_z` call: a decode's thousands of small sets cost a few
        calls instead of three each. 0 for sets of fewer than 2 positions, NaN above ``max_set``."""
        x = np.asarray(x)
        visible, filled = np.asarray(visible, dtype=bool), np.asarray(filled, dtype=bool)
        q = self.states
        sizes = filled.sum(1)
        out = np.where(sizes > max_set, np.nan, 0.0)
        assignments: dict[int, np.ndarray] = {}  # |S| -> int[q^|S|, |S|]

        def patterns(n: int) -> np.ndarray:
            """int[1 + q^s + s q, L]: the visible state, every assignment of S, every (member, value)."""
            S = np.nonzero(filled[n])[0]
            s = len(S)
            a = assignments.setdefault(s, np.array(list(product(range(q), repeat=s))))
            rows = np.repeat(np.where(visible[n], x[n], -1)[None], 1 + len(a) + s * q, axis=0)
            rows[1 : 1 + len(a), S] = a
            rows[1 + len(a) + np.arange(s * q), np.repeat(S, q)] = np.tile(np.arange(q), s)
            return rows

        def score(n: int, lz: np.ndarray) -> float:
            S = np.nonzero(filled[n])[0]
            s, a = len(S), assignments[len(S)]
            logp = lz[1 : 1 + len(a)] - lz[0]  # log p(x_S = a | x_V)
            single = np.exp(lz[1 + len(a) :] - lz[0]).reshape(s, q)  # p(x_i = b | x_V), i in S
            p = np.exp(logp)
            with np.errstate(divide="ignore"):
                logq = np.log(single[np.arange(s)[None], a]).sum(1)
            keep = p > 0
            return float(max(0.0, np.sum(p[keep] * (logp[keep] - logq[keep]))))

        todo = np.nonzero((sizes >= 2) & (sizes <= max_set))[0].tolist()
        while todo:
            group, blocks, total = [], [], 0
            while todo and (not group or total + 1 + q ** int(sizes[todo[0]]) <= max_rows):
                n = todo.pop(0)
                group.append(n)
                blocks.append(patterns(n))
                total += len(blocks[-1])
            lz = self.log_z(np.concatenate(blocks))
            starts = np.cumsum([0] + [len(b) for b in blocks])
            for n, lo, hi in zip(group, starts[:-1], starts[1:]):
                out[n] = score(n, lz[lo:hi])
        return out


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """v[B, q] shaped to broadcast along ``axis`` of a [B] + [q]*ndim array."""
    shape = [v.shape[0]] + [1] * ndim
    shape[1 + axis] = v.shape[1]
    return v.reshape(shape)


def _pair_along(J: np.ndarray, a: int, b: int, ndim: int) -> np.ndarray:
    """J[q, q] shaped to broadcast over axes a < b of a [B] + [q]*ndim array."""
    shape = [1] * (ndim + 1)
    shape[1 + a], shape[1 + b] = J.shape
    return J.reshape(shape)


def _lse(a: np.ndarray, axis: int) -> np.ndarray:
    """logsumexp that returns -inf (not NaN) where every term is -inf."""
    # imported here, not at the top: 0.5 s of import that most Potts jobs (decoding, tables) never use
    from scipy.special import logsumexp  # noqa: PLC0415

    with np.errstate(divide="ignore", invalid="ignore"):
        out = logsumexp(a, axis=axis)
    return np.where(np.isnan(out), -np.inf, out)
