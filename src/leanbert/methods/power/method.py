"""PoWER-BERT (Goyal et al., 2020): keep [CLS] and the most-attended tokens, drop the rest."""
from ...engine.method import ReductionMethod


class PowerMethod(ReductionMethod):
    """The base interface as it stands: its score and selection are PoWER-BERT's."""
