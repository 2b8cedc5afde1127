"""LAT (Kim & Cho, 2021), a peer: LengthDrop fine-tuning, then an evolutionary search of per-layer lengths.

It registers no inference method of its own: the lengths it finds run as PoWER-BERT profiles (PowerConfig),
and its rows say method "lat".

lengthdrop.py  the LengthDrop sampler, the sandwich loss, the search over length configs
pipeline.py    LengthDrop fine-tuning, the search, one row per target FLOPs reduction
"""
