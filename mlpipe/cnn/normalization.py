"""The differentiable GZ2 normalisation layer: the network's 37 outputs obey the decision tree.

Same rule as :func:`mlpipe.gz2.normalise` (which builds the targets): per question, answers are
divided by their sum, then multiplied by the probability that the question is asked.
"""

from __future__ import annotations

import torch
from torch import nn

from mlpipe import gz2

_TINY = 1e-12


class GZ2Normalisation(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.slices = gz2.question_slices()
        self.parents = [q.parent for q in gz2.QUESTIONS]

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """raw: (N, 37) non-negative scores -> (N, 37) unconditional probabilities.

        An all-zero question stays zero: its answers are 0 / clamp(0) = 0, with finite gradients.
        """
        columns: list[torch.Tensor] = []
        for sl, parent in zip(self.slices, self.parents):
            block = raw[:, sl]
            share = block / block.sum(dim=1, keepdim=True).clamp_min(_TINY)
            if parent is not None:
                share = share * torch.cat(columns, dim=1)[:, parent:parent + 1]
            columns.append(share)
        return torch.cat(columns, dim=1)
