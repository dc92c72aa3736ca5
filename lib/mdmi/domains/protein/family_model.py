"""A family MDM: a masked Potts model over the columns of a family alignment (``protein.backbone: family``).

A sequence of the family is its row over the alignment's kept match columns (``data.family_columns``):
one of the 20 amino acids, or a gap. Token ids seen by the core: 0..19 residues, 20 mask, 21 gap. The
gap is the protocol's padding: it is never masked and never decoded, but unlike the padding of a
variable-length batch it is *visible*: the model reads it as a 21st input state (a deletion is
evidence about the neighbours).

The conditional of a masked column i given the visible ones is a Potts form,

    logits_i(a) = h_i(a) + sum_{j visible, j != i} J_ij(a, x_j),

trained with the masked-diffusion objective like any other backbone (``mdmi.train.mdm``). The
couplings are factorised, ``J[(i, a), (j, b)] = sum_k U[i, a, k] V[j, b, k]`` (rank ``model.family.rank``;
0 = the full C x 20 x C x 21 tensor), and pulled towards zero by a Gaussian prior
(``penalty()``: ``model.family.penalty`` x a squared norm, which the trainer adds to the loss divided
by the number of training sequences, a MAP estimate): of the factors U and V (``prior: factors``, a
nuclear-norm-like prior that favours few coupling modes) or of the couplings J = U V^T themselves
(``prior: couplings``, the L2 prior of a full coupling tensor, as in pseudo-likelihood DCA, at any
rank). The prior is what makes the model's conditionals soft enough for its conditional MI to read
the couplings (docs/method.md §5).

forward(tokens[B, L]) -> (logits[B, L, 20], hidden[B, L, 20]): ``hidden`` is the centred logits. Inputs
shorter than the family (the core cuts trailing padding off a chunk) are read as gaps there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_ID = 20
GAP_ID = 21  # the protocol's pad_id
RESIDUES = 20
INPUT_STATES = 21  # 20 residues + gap


class FamilyPottsMDM(nn.Module):
    """Masked Potts model over ``columns`` alignment columns (see the module docstring)."""

    num_values = RESIDUES
    mask_id = MASK_ID
    pad_id = GAP_ID

    def __init__(
        self,
        columns: int,
        rank: int,
        penalty: float,
        label: str = "family Potts MDM",
        prior: str = "factors",
    ):
        super().__init__()
        C, K = int(columns), int(rank)
        if prior not in ("factors", "couplings"):
            raise ValueError(f"family prior must be 'factors' or 'couplings', got {prior!r}")
        self.columns, self.rank, self.penalty_weight, self.label, self.prior = (
            C,
            K,
            float(penalty),
            label,
            prior,
        )
        self.field = nn.Parameter(torch.zeros(C, RESIDUES))  # h[C, 20]
        if K > 0:
            self.U = nn.Parameter(
                0.01 * torch.randn(C * RESIDUES, K)
            )  # [C*20, K] (the trainer seeds torch)
            self.V = nn.Parameter(0.01 * torch.randn(C * INPUT_STATES, K))  # [C*21, K]
        else:
            self.J = nn.Parameter(torch.zeros(C * RESIDUES, C * INPUT_STATES))  # [C*20, C*21]
        self.register_buffer("off_diagonal", 1.0 - torch.eye(C), persistent=False)

    def inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """FloatTensor[B, C, 21]: one-hot of residues and gaps; a masked column is all zero."""
        if bool(((tokens < 0) | (tokens > GAP_ID)).any()):
            raise ValueError(
                f"family tokens must be 0..{GAP_ID} (20 residues, {MASK_ID} mask, {GAP_ID} gap)"
            )
        state = torch.where(tokens == GAP_ID, RESIDUES, tokens)  # gap -> input state 20
        x = F.one_hot(state, INPUT_STATES).float()
        return x * (tokens != MASK_ID).unsqueeze(-1).float()

    def couplings(self) -> torch.Tensor:
        """FloatTensor[C, 20, C, 21]: J with its (i, i) blocks zeroed."""
        C = self.columns
        J = self.U @ self.V.T if self.rank > 0 else self.J
        return J.view(C, RESIDUES, C, INPUT_STATES) * self.off_diagonal[:, None, :, None]

    def forward(self, tokens: torch.Tensor):
        B, L = tokens.shape
        if L > self.columns:
            raise ValueError(f"a family sequence has {self.columns} columns, got {L}")
        if L < self.columns:  # trailing columns cut off by the caller: gaps
            tokens = F.pad(tokens, (0, self.columns - L), value=GAP_ID)
        x = self.inputs(tokens)  # [B, C, 21]
        C = self.columns
        if self.rank > 0:
            K = self.rank
            s = x.reshape(B, -1) @ self.V  # [B, K]
            logits = (s @ self.U.T).view(B, C, RESIDUES)
            own = torch.einsum(
                "bcq,cqk->bck", x, self.V.view(C, INPUT_STATES, K)
            )  # column i's own term
            logits = logits - torch.einsum("bck,cak->bca", own, self.U.view(C, RESIDUES, K))
        else:
            logits = torch.einsum("bjq,iajq->bia", x, self.couplings())
        logits = (logits + self.field)[:, :L]
        return logits, logits - logits.mean(-1, keepdim=True)

    def penalty(self) -> torch.Tensor:
        """The Gaussian prior's negative log density (up to a constant), summed over all parameters:
        ``penalty`` x (|U|^2 + |V|^2 with ``prior: factors``; |J|^2 at full rank or with ``prior:
        couplings``, computed as sum((U^T U) * (V^T V)) without forming J) + 0.01 x ``penalty`` x |h|^2."""
        if self.rank == 0:
            pair = self.J.square().sum()
        elif self.prior == "couplings":
            pair = ((self.U.T @ self.U) * (self.V.T @ self.V)).sum()
        else:
            pair = self.U.square().sum() + self.V.square().sum()
        return self.penalty_weight * (pair + 0.01 * self.field.square().sum())

    @torch.no_grad()
    def coupling_norms(self) -> torch.Tensor:
        """FloatTensor[C, C]: Frobenius norm of each column pair's 20 x 20 residue couplings in the
        zero-sum gauge, symmetrised (the classical DCA contact score, before APC)."""
        J = self.couplings()[..., :RESIDUES]
        J = J - J.mean(1, keepdim=True) - J.mean(3, keepdim=True) + J.mean((1, 3), keepdim=True)
        norms = J.square().sum((1, 3)).sqrt()
        return 0.5 * (norms + norms.T)
