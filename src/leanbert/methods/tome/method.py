"""Token merging in the style of ToMe (Bolya et al., ICLR 2023), a peer that needs no training.

Per reducing layer, after the attention sub-layer, r = n_in - n_keep tokens are merged by bipartite soft
matching on the sub-layer's output (ToMe uses the keys; the output keeps SDPA untouched, see
docs/methods.md). Later layers use proportional attention: log(size) is added to each key's logit.
"""
import torch

from ...core import merging
from ...engine.method import ReductionMethod


class TomeMethod(ReductionMethod):
    scores_from_attention = False

    def plan(self, n0):
        """The profile's counts, raised where one bipartite step cannot merge that many (at most
        ceil(n/2) - 1 tokens, [CLS] protected)."""
        out, n = [], n0
        for c in super().plan(n0):
            n = max(c, n // 2 + 1) if c < n else n
            out.append(n)
        return out

    def overhead_flops(self, index, n_in, hidden, heads):
        return 2 * ((n_in + 1) // 2) * (n_in // 2) * hidden  # cosine similarity between the two sets

    def reduce(self, hidden, key_mask, scores, n_keep, index=0, sizes=None):
        if sizes is None:
            sizes = key_mask.to(hidden.dtype)  # pads weigh nothing
        return merging.bipartite_soft_matching(hidden, key_mask, sizes, hidden.shape[1] - n_keep)

    def reduce_carrying(self, hidden, positions, key_mask, scores, n_keep, index=0, sizes=None):
        """One matching (on the hidden states) with the positions riding along as one more channel: a merged
        token sits at the size-weighted mean position of its members."""
        if sizes is None:
            sizes = key_mask.to(hidden.dtype)
        riding = torch.cat([hidden, positions[..., None].to(hidden.dtype)], dim=-1)  # (B, N, D + 1)
        merged, mask, sizes = merging.bipartite_soft_matching(riding, key_mask, sizes, hidden.shape[1] - n_keep,
                                                              passengers=1)
        return merged[..., :-1], mask, sizes, merged[..., -1]

    def uses_sizes(self) -> bool:
        return self.config.proportional_attention
