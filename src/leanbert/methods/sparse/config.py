"""The sparse attention pattern config (Breaking BERT, reconstructed)."""
from __future__ import annotations

from dataclasses import dataclass

from ...engine.config import ReductionConfig, check_field as _check


@dataclass(frozen=True)
class SparseConfig(ReductionConfig):
    """Sparse attention patterns (Breaking BERT, reconstructed): each listed layer attends only along the
    pattern: neighbours within `width`, `n_random` random real keys per query, global [CLS], the
    `lexical_top` most similar tokens by cosine of the layer's input, and word pieces within `syntax_hops`
    edges of the dependency parse (the parse comes with each batch: syntax.py, `leanbert_syntax=`).
    No tokens are removed: `keep_fractions` stays all 1.0 (build with `SparseConfig.for_layers`).
    `layers`: the layer indices that use the pattern (e.g. range(l0, L) for "later layers only").
    `head_widths`: a neighbour width per patterned layer and head (what `leanbert learn-band` learns); it
    replaces `width` and always runs on the banded kernel (window of the widest head, each head masked to
    its own band).
    `kernel`: how a patterned layer runs; `auto` takes the banded kernel for neighbour (+ global) patterns
    when it computes at most half of the dense score matrix (banded.window_fraction), else masked dense SDPA.
    """

    method: str = "sparse"
    width: int = 0
    n_random: int = 0
    global_cls: bool = True
    lexical_top: int = 0
    syntax_hops: int = 0
    layers: tuple[int, ...] = ()
    head_widths: tuple[tuple[int, ...], ...] = ()  # learned degrees: per entry of `layers`, one width per head
    seed: int = 0
    kernel: str = "auto"  # banded (skips masked blocks; neighbour + global only), masked (dense SDPA + mask), auto

    @classmethod
    def for_layers(cls, num_layers: int, layers=None, **pattern) -> "SparseConfig":
        layers = tuple(range(num_layers)) if layers is None else tuple(layers)
        return cls(keep_fractions=(1.0,) * num_layers, layers=layers, **pattern)

    def validate(self) -> None:
        super().validate()
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "head_widths", tuple(tuple(w) for w in self.head_widths))
        if self.head_widths:
            _check(len(self.head_widths) == len(self.layers), "head_widths",
                   f"needs one tuple of per-head widths per patterned layer ({len(self.layers)}), got {len(self.head_widths)}")
            _check(all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for ws in self.head_widths for w in ws)
                   and all(ws for ws in self.head_widths), "head_widths", "every width must be an integer >= 0")
            _check(self.width == 0 and self.n_random == 0 and self.lexical_top == 0 and self.syntax_hops == 0,
                   "head_widths", "per-head widths are a pure neighbour (+ global) pattern: leave width, n_random, "
                   "lexical_top and syntax_hops at 0")
            _check(self.kernel != "masked", "kernel", "per-head widths run on the banded kernel (auto or banded)")
        for name in ("width", "n_random", "lexical_top", "syntax_hops", "seed"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name, "must be an integer >= 0")
        _check(all(f == 1.0 for f in self.keep_fractions or ()) and self.keep_counts is None, "keep_fractions",
               "sparse attention removes no tokens: use SparseConfig.for_layers")
        _check(all(isinstance(l, int) and 0 <= l < self.num_layers for l in self.layers), "layers",
               f"every layer index must be in [0, {self.num_layers})")
        _check(self.width > 0 or self.n_random > 0 or self.global_cls or self.lexical_top > 0 or self.syntax_hops > 0
               or any(w > 0 for ws in self.head_widths for w in ws),
               "width", "the pattern allows nothing beyond the diagonal; set width, n_random, global_cls, lexical_top "
               "or syntax_hops")
        _check(self.kernel in ("auto", "banded", "masked"), "kernel", "must be auto, banded or masked")
        _check(self.kernel != "banded" or self.is_banded, "kernel",
               "the banded kernel runs neighbour (+ global [CLS]) patterns only: width > 0, n_random = lexical_top = "
               "syntax_hops = 0")

    def composition_error(self) -> str | None:
        if self.syntax_hops:
            return ("the syntax pattern cannot be composed with token reduction (its parse links word pieces by "
                    "position, and removed tokens shift positions)")
        return None

    @property
    def needs_syntax(self) -> bool:
        return self.syntax_hops > 0

    @property
    def is_banded(self) -> bool:
        """A pure neighbour (+ global [CLS]) pattern: what banded.banded_attention computes."""
        neighbours = self.width > 0 or bool(self.head_widths)
        return neighbours and self.n_random == 0 and self.lexical_top == 0 and self.syntax_hops == 0

    def layer_width(self, index: int) -> int:
        """The band's reach in layer `index`: `width`, or the widest head's learned width."""
        return max(self.head_widths[self.layers.index(index)]) if self.head_widths else self.width
