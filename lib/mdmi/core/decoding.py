"""One decoding harness for every unmasking rule (docs/method.md §4).

Every method runs the same loop, batched over sequences: one MDM forward pass on each sequence
that still has masked positions, a rule picks a set S of masked positions per sequence, every
position of S is filled at once from its marginal, repeat. A pass is counted for a sequence
whenever the loop runs the model on it, identically for all methods. ``mi`` adds the cost of
the estimator head (reported as ``head_seconds``); ``mi-exact`` (the oracle) adds clamped
labelling passes, reported separately as ``label_passes``.

Methods and knobs:
  sequential   order='confidence'|'margin'         one position per pass
  all-at-once  (none)                              every masked position from one pass: the floor
  topk         k                                   k most confident
  threshold    tau                                 most confident + all with max prob >= tau
  eb           gamma                               entropy-sorted prefix, sum(H) - max(H) <= gamma
  mi           rule, gamma, lam, eps, min_conf,    learned MI (needs ``estimator``)
               max_set, order
  mi-exact     the same + skip_tol                 exact MI, rows computed lazily as needed

MI rules (S is always a prefix of an ordering of the masked positions, at least one long):
  budget    entropy order; cost(S) = sum(H) - max(H) + lam * sum of pairwise MI in S <= gamma.
            lam = 0 is exactly ``eb``: "does MI help?" is the one knob lam.
  tc        entropy order; cost(S) = sum over members k but the last of min(H_k, sum of I(k; s) over
            the later members s) <= gamma: a chain-rule estimate of the set's total correlation with
            each term capped by its exact bound I(X_k; X_later) <= H_k. With an uninformative
            estimator (every I >= H) it is exactly ``eb``; where MI shows independence it admits more.
  prefix    confidence (or margin) order; summed pairwise MI in S <= eps (ignores the entropies).
  pairwise  confidence order; add j if I(j; s) <= eps for every s already chosen.
``min_conf`` gates every position after the first on its max probability; ``max_set`` caps |S|.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from mdmi.core.knobs import DEFAULT_RULE, MI_RULES, check_knobs, resolve_rule
from mdmi.core.mi import entropy, exact_mi_rows, symmetrise
from mdmi.core.protocol import forward_chunked, model_device
from mdmi.errors import UsageError


@dataclass
class DecodeResult:
    tokens: torch.Tensor  # LongTensor[B, L] final tokens (no mask left)
    passes: torch.Tensor  # LongTensor[B] MDM forward passes per sequence
    label_passes: torch.Tensor  # LongTensor[B] clamped labelling passes (mi-exact only)
    seconds: float  # wall time of the whole call
    head_seconds: float  # time spent in the MI estimator (mi only)
    trace: list[dict] = field(default_factory=list)  # per step: active count and |S| per sequence
    states: list[torch.Tensor] = field(
        default_factory=list
    )  # states before each step (record_states)


@dataclass
class FirstPass:
    """The first forward pass of a decode, which every setting of a sweep shares (same tokens): computed
    once by :func:`first_pass` and handed to :func:`decode`, which then skips it; its time is charged
    to every decode that uses it, so ``seconds`` stays the full decode's.

    tokens: LongTensor[N, L] the sequences of the input with a masked position, in order;
    logits: FloatTensor[N, L, V]; hidden: FloatTensor[N, L, D]; seconds: the pass's wall time."""

    tokens: torch.Tensor
    logits: torch.Tensor
    hidden: torch.Tensor
    seconds: float


def first_pass(model, tokens: torch.Tensor, max_batch: int = 1024) -> FirstPass:
    """The forward pass :func:`decode` starts with on tokens[B, L] (the sequences with a masked position)."""
    t0 = time.perf_counter()
    with torch.inference_mode():
        x = tokens.to(model_device(model))
        xa = x[(x == model.mask_id).any(-1)]
        logits, hidden = forward_chunked(model, xa, max_batch, need_hidden=True)
    return FirstPass(xa, logits, hidden, time.perf_counter() - t0)


def _scores(probs: torch.Tensor, order: str, conf: torch.Tensor | None = None) -> torch.Tensor:
    """Per-position ordering score [B, L] from marginals probs[B, L, V] (``conf``: their max, if known)."""
    if order == "confidence":
        return probs.max(-1).values if conf is None else conf
    if order == "margin":
        top = probs.topk(min(2, probs.shape[-1]), -1).values
        return top[..., 0] - (top[..., 1] if top.shape[-1] > 1 else 0)
    raise UsageError(f"unknown order {order!r}: use 'confidence' or 'margin'")


def _sorted_candidates(score: torch.Tensor, masked: torch.Tensor):
    """Masked positions sorted by descending score: (order LongTensor[B, L], valid BoolTensor[B, L])."""
    s = torch.where(masked, score, torch.full_like(score, -float("inf")))
    order = torch.argsort(s, dim=-1, descending=True, stable=True)
    valid = torch.gather(masked, 1, order)
    return order, valid


def _take_prefix(order: torch.Tensor, k: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """BoolTensor[B, L] selecting the first k[b] positions of order[b] (k >= 1)."""
    B, L = order.shape
    ranks = torch.arange(L, device=order.device)[None].expand(B, L)
    sel_sorted = ranks < k[:, None]
    sel = torch.zeros_like(masked)
    sel.scatter_(1, order, sel_sorted)
    return sel & masked


def set_costs(
    rule: str, H_sorted: torch.Tensor, mi_sorted: torch.Tensor | None = None, lam: float = 0.0
) -> torch.Tensor:
    """Cost of every prefix of the sorted candidates under ``rule``: FloatTensor[B, K], entry m the
    cost of the set made of candidates 0..m. Non-decreasing in m and in every MI entry.

    H_sorted: FloatTensor[B, K] entropies in candidate order (finite; 0 where not a candidate).
    mi_sorted: FloatTensor[B, K, K] symmetric MI among the candidates (not for 'eb').
    """
    prev = H_sorted.cumsum(-1) - H_sorted  # sum of H of the members before m
    if rule == "eb":
        return prev
    pairs = (
        torch.tril(mi_sorted, diagonal=-1).sum(-1).cumsum(-1)
    )  # [B, K]: sum of I(s, t), s < t <= m
    if rule == "prefix":
        return pairs
    if rule == "budget":
        return prev + lam * pairs if lam else prev
    if rule == "tc":
        # R[b, k, m] = sum_{k < s <= m} I(k, s): what member k shares with the members after it
        later = torch.triu(mi_sorted, diagonal=1).cumsum(-1)
        charge = torch.minimum(H_sorted[:, :, None], later)  # 0 where m <= k
        return charge.sum(1)
    raise UsageError(f"unknown MI rule {rule!r}: use one of {', '.join(MI_RULES)}")


def prefix_length(
    cost: torch.Tensor,
    valid: torch.Tensor,
    conf_sorted: torch.Tensor,
    budget: float,
    min_conf: float = 0.0,
    max_set: int | None = None,
) -> torch.Tensor:
    """Length of the longest prefix whose cost stays <= ``budget``: LongTensor[B] >= 1.

    cost: FloatTensor[B, K] from :func:`set_costs`; valid: BoolTensor[B, K] real candidates;
    conf_sorted: FloatTensor[B, K] max probabilities, gated by ``min_conf`` after the first.
    """
    ok = (cost <= budget) & valid
    if min_conf > 0:
        gate = conf_sorted >= min_conf
        gate[:, 0] = True
        ok &= gate
    if max_set is not None:
        ok[:, max_set:] = False
    ok[:, 0] = valid[:, 0]
    return ok.long().cumprod(-1).sum(-1).clamp_min(1)


def mi_pairwise_select(
    mi_sorted: torch.Tensor,
    valid: torch.Tensor,
    conf_sorted: torch.Tensor,
    eps: float,
    min_conf: float,
    max_set: int | None,
) -> torch.Tensor:
    """Greedy 'every pair <= eps' rule. Returns BoolTensor[B, K] over sorted candidates."""
    B, K, _ = mi_sorted.shape
    chosen = torch.zeros(B, K, dtype=torch.bool, device=mi_sorted.device)
    chosen[:, 0] = valid[:, 0]
    for b in range(B):
        members = [0]
        for j in range(1, K):
            if not valid[b, j] or (max_set is not None and len(members) >= max_set):
                break
            if min_conf > 0 and conf_sorted[b, j] < min_conf:
                break
            if bool((mi_sorted[b, j, members] <= eps).all()):
                members.append(j)
                chosen[b, j] = True
    return chosen


def _gather_pairs(mi: torch.Tensor, order: torch.Tensor, K: int) -> torch.Tensor:
    """mi[B, L, L] restricted to the first K sorted candidates -> [B, K, K]."""
    idx = order[:, :K]
    rows = torch.gather(mi, 1, idx[:, :, None].expand(-1, -1, mi.shape[-1]))
    return torch.gather(rows, 2, idx[:, None, :].expand(-1, K, -1))


def _mi_length(mi_sorted, valid, conf_sorted, H_sorted, knobs) -> torch.Tensor:
    """Prefix length of a prefix rule (prefix, budget, tc) from the sorted MI [B, K, K]."""
    rule = knobs["rule"]
    budget = knobs["eps"] if rule == "prefix" else knobs["gamma"]
    cost = set_costs(rule, H_sorted, mi_sorted, knobs["lam"])
    return prefix_length(cost, valid, conf_sorted, budget, knobs["min_conf"], knobs["max_set"])


def _select_mi(mi_full, order, valid, conf_sorted, H_sorted, masked, knobs):
    """Selection from a full symmetric MI matrix [B, L, L], candidates in ``order`` [B, L]."""
    K = int(valid.sum(-1).max())
    mi_sorted = _gather_pairs(mi_full, order, K)
    if knobs["rule"] != "pairwise":
        k = _mi_length(mi_sorted, valid[:, :K], conf_sorted[:, :K], H_sorted[:, :K], knobs)
        return _take_prefix(order, k, masked)
    chosen = mi_pairwise_select(
        mi_sorted,
        valid[:, :K],
        conf_sorted[:, :K],
        knobs["eps"],
        knobs["min_conf"],
        knobs["max_set"],
    )
    sel = torch.zeros_like(masked)
    sel.scatter_(1, order[:, :K], chosen)
    return sel & masked


def _select_mi_exact(
    model, tokens, probs, order, valid, conf_sorted, H_sorted, masked, knobs, max_batch, chunk
):
    """Oracle selection with exact MI, computing clamped rows only where the decision needs them.

    Row i of the row-wise MI is bounded by the entropy of position i (I(i->j) <= H_i, exactly: it
    is the MI of a joint whose first marginal is p_i). Every prefix rule's cost is non-decreasing in
    each MI entry, so with unknown rows replaced by that bound the rule gives a lower bound k_up on
    the prefix length; replaced by 0, an upper bound k_lo. Rows are computed, ``chunk`` candidates
    at a time among the first k_lo + 1, until both agree: the result equals the rule applied to the
    full exact matrix. The ``pairwise`` rule computes every row.
    Returns (selection BoolTensor[B, L], clamped passes LongTensor[B]).
    """
    B, L = tokens.shape
    dev = tokens.device
    rowwise = torch.zeros(B, L, L, device=dev)
    known = torch.zeros(B, L, dtype=torch.bool, device=dev)
    H = entropy(probs)  # [B, L]
    cost = torch.zeros(B, dtype=torch.long, device=dev)

    def compute(rows: list[tuple[int, int]]) -> None:
        rows_t = torch.tensor(rows, dtype=torch.long, device=dev).reshape(-1, 2)
        res = exact_mi_rows(
            model, tokens, rows_t, probs=probs, max_batch=max_batch, skip_tol=knobs["skip_tol"]
        )
        rowwise[rows_t[:, 0], rows_t[:, 1]] = res.mi
        known[rows_t[:, 0], rows_t[:, 1]] = True
        cost.index_add_(0, rows_t[:, 0], res.passes_per_row)

    if knobs["rule"] == "pairwise":
        compute([(b, i) for b, i in masked.nonzero().tolist()])
        return _select_mi(
            symmetrise(rowwise), order, valid, conf_sorted, H_sorted, masked, knobs
        ), cost
    K = int(valid.sum(-1).max())
    while True:
        upper = torch.where(known[:, :, None], rowwise, H[:, :, None].expand(B, L, L))
        lower = torch.where(known[:, :, None], rowwise, torch.zeros_like(rowwise))
        k_up = _mi_length(
            _gather_pairs(symmetrise(upper), order, K),
            valid[:, :K],
            conf_sorted[:, :K],
            H_sorted[:, :K],
            knobs,
        )
        k_lo = _mi_length(
            _gather_pairs(symmetrise(lower), order, K),
            valid[:, :K],
            conf_sorted[:, :K],
            H_sorted[:, :K],
            knobs,
        )
        undecided = (k_up != k_lo).nonzero().flatten().tolist()
        if not undecided:
            return _take_prefix(order, k_up, masked), cost
        rows = []
        for b in undecided:
            span = order[b, : min(int(k_lo[b]) + 1, K)]
            span = span[valid[b, : len(span)]]
            todo = span[~known[b, span]][:chunk].tolist()
            rows += [(b, i) for i in todo]
        compute(rows)


def _estimate(estimator, hidden, probs, masked, max_batch: int) -> torch.Tensor:
    """The head's MI [B, L, L], max_batch states at a time (the pair MLP's intermediates are
    B*L*L*hidden floats)."""
    return torch.cat(
        [
            estimator(
                hidden[c : c + max_batch], probs[c : c + max_batch], masked[c : c + max_batch]
            )
            for c in range(0, masked.shape[0], max_batch)
        ]
    )


def _values(probs: torch.Tensor, fill: str, gen: torch.Generator) -> torch.Tensor:
    """The value each position would take: argmax, or one draw from its marginal [B, L, V]."""
    if fill == "argmax":
        return probs.argmax(-1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=gen).reshape(
        probs.shape[:2]
    )


@dataclass
class _Knobs:
    """A decoding call's method and knobs, checked once (:func:`_checked_knobs`)."""

    method: str
    order: str
    k: int
    tau: float
    rule: dict  # eps, gamma, lam, rule, min_conf, max_set, skip_tol: what the MI set rules read
    by_entropy: bool  # candidates in ascending entropy (eb, and MI's budget and tc rules)


def _checked_knobs(
    method, estimator, fill, *, order, k, tau, gamma, lam, eps, rule, min_conf, max_set, skip_tol
) -> _Knobs:
    """Validate a decode call's knobs (one UsageError naming the problem) and fill the defaults."""
    check_knobs(method, {})
    if rule not in MI_RULES:
        raise UsageError(f"unknown MI rule {rule!r}: use one of {', '.join(MI_RULES)}")
    if method in ("mi", "mi-exact"):  # the rule takes the knobs given
        given = {n: v for n, v in (("eps", eps), ("gamma", gamma), ("lam", lam)) if v is not None}
        resolve_rule({"rule": rule, **given})
    if method == "mi" and estimator is None:
        raise UsageError("method 'mi' needs a trained estimator (estimator=...)")
    if fill not in ("argmax", "sample"):
        raise UsageError(f"unknown fill {fill!r}: use 'argmax' or 'sample'")
    mi_knobs = dict(
        eps=float(0.01 if eps is None else eps),
        gamma=float(1.0 if gamma is None else gamma),
        lam=float(1.0 if lam is None else lam),
        rule=rule,
        min_conf=float(min_conf),
        max_set=max_set,
        skip_tol=float(skip_tol),
    )
    by_entropy = method == "eb" or (method in ("mi", "mi-exact") and rule in ("budget", "tc"))
    return _Knobs(method, order, int(k), float(tau), mi_knobs, by_entropy)


@dataclass
class _StepCost:
    head_seconds: float = 0.0  # time in the MI estimator head
    label_passes: torch.Tensor | None = None  # LongTensor[B_active] clamped passes of the oracle


def _select_set(model, xa, probs, hidden, masked, kn: _Knobs, estimator, max_batch, oracle_chunk):
    """One step's set S for each active sequence: BoolTensor[B_active, L] (at least one masked
    position per sequence), from its tokens xa[B_active, L], marginals probs[B_active, L, V] and
    hidden states; plus what the step cost beside the forward pass."""
    conf = probs.max(-1).values  # [B, L] max probability
    H = entropy(probs)  # [B, L] nats
    # candidates: ascending entropy (stable, ties by position) or descending confidence/margin
    score = -H if kn.by_entropy else _scores(probs, kn.order, conf)
    cand_order, valid = _sorted_candidates(score, masked)
    H_sorted = torch.where(valid, torch.gather(H, 1, cand_order), torch.zeros_like(H))
    conf_sorted = torch.gather(conf, 1, cand_order)
    one = torch.ones(len(xa), dtype=torch.long, device=xa.device)
    cost = _StepCost()
    if kn.method == "sequential":
        return _take_prefix(cand_order, one, masked), cost
    if kn.method == "all-at-once":
        return masked, cost
    if kn.method == "topk":
        return _take_prefix(cand_order, one * kn.k, masked), cost
    if kn.method == "threshold":
        return (masked & (conf >= kn.tau)) | _take_prefix(cand_order, one, masked), cost
    if kn.method == "eb":
        kk = prefix_length(set_costs("eb", H_sorted), valid, conf_sorted, kn.rule["gamma"])
        return _take_prefix(cand_order, kk, masked), cost
    if kn.method == "mi":
        th = time.perf_counter()
        mi_full = _estimate(estimator, hidden, probs, masked, max_batch)  # [B, L, L]
        cost.head_seconds = time.perf_counter() - th
        return _select_mi(mi_full, cand_order, valid, conf_sorted, H_sorted, masked, kn.rule), cost
    sel, cost.label_passes = _select_mi_exact(  # mi-exact
        model,
        xa,
        probs,
        cand_order,
        valid,
        conf_sorted,
        H_sorted,
        masked,
        kn.rule,
        max_batch,
        oracle_chunk,
    )
    return sel, cost


def decode(
    model,
    tokens: torch.Tensor,
    method: str,
    *,
    estimator=None,
    order: str = "confidence",
    k: int = 2,
    tau: float = 0.9,
    gamma: float | None = None,
    lam: float | None = None,
    eps: float | None = None,
    rule: str = DEFAULT_RULE,
    min_conf: float = 0.0,
    max_set: int | None = None,
    skip_tol: float = 0.0,
    fill: str = "argmax",
    temperature: float = 1.0,
    seed: int = 0,
    max_batch: int = 1024,
    oracle_chunk: int = 8,
    record_states: bool = False,
    progress: bool = False,
    first: FirstPass | None = None,
) -> DecodeResult:
    """Decode tokens[B, L] (``model.mask_id`` where masked) until nothing is masked.

    Visible tokens are never changed. Returns a :class:`DecodeResult`. gamma, lam, eps default to
    1.0, 1.0, 0.01; giving one that the MI rule does not use is an error, never silently ignored.
    ``first``: the first pass, computed once for a sweep by :func:`first_pass` on the same tokens.
    """
    kn = _checked_knobs(
        method,
        estimator,
        fill,
        order=order,
        k=k,
        tau=tau,
        gamma=gamma,
        lam=lam,
        eps=eps,
        rule=rule,
        min_conf=min_conf,
        max_set=max_set,
        skip_tol=skip_tol,
    )
    dev = model_device(model)
    t0 = time.perf_counter() - (first.seconds if first is not None else 0.0)
    x = tokens.clone().to(dev)
    passes = torch.zeros(len(x), dtype=torch.long, device=dev)
    label_passes = torch.zeros(len(x), dtype=torch.long, device=dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    head_seconds, trace, states = 0.0, [], []
    n_masked = int((x == model.mask_id).sum())
    bar = (
        tqdm(total=n_masked, desc=f"decode {method}", unit="tok", leave=False) if progress else None
    )
    with torch.inference_mode():
        while True:
            masked_all = x == model.mask_id
            active = masked_all.any(-1).nonzero().flatten()
            if active.numel() == 0:
                break
            xa = x[active]
            if record_states:
                states.append(x.clone().cpu())
            if first is not None:  # the shared first pass, on exactly these tokens
                if not torch.equal(first.tokens, xa):
                    raise ValueError("decode: `first` was computed on other tokens")
                logits, hidden, first = first.logits, first.hidden, None
            else:
                logits, hidden = forward_chunked(model, xa, max_batch, need_hidden=True)
            passes[active] += 1
            probs = torch.softmax(logits.float() / (temperature if fill == "sample" else 1.0), -1)
            sel, cost = _select_set(
                model, xa, probs, hidden, masked_all[active], kn, estimator, max_batch, oracle_chunk
            )
            head_seconds += cost.head_seconds
            if cost.label_passes is not None:
                label_passes[active] += cost.label_passes
            x[active] = torch.where(sel, _values(probs, fill, gen), xa)
            n_sel = sel.sum(-1)
            trace.append(
                {
                    "step": len(trace),
                    "active": int(active.numel()),
                    "mean_set": float(n_sel.float().mean()),
                    "max_set": int(n_sel.max()),
                }
            )
            if bar is not None:
                bar.update(int(n_sel.sum()))
    if bar is not None:
        bar.close()
    return DecodeResult(
        tokens=x.cpu(),
        passes=passes.cpu(),
        label_passes=label_passes.cpu(),
        seconds=time.perf_counter() - t0,
        head_seconds=head_seconds,
        trace=trace,
        states=states,
    )
