"""FCA's section of the results report: its FLOPs claim checked on our backbone."""
from __future__ import annotations

from ...report.render import md_table


FCA_CLAIM_VARIANTS = ("power", "fca-k1-weighted", "fca-k5-mean")


def padded_flops_ratio(row: dict) -> float | None:
    """Dense / method FLOPs with every input padded to the task length (the papers' protocol)."""
    padded = row.get("gflops_padded")
    return padded["dense"] / padded["method"] if padded else None


def fca_claim_section(by_task: dict[str, list[dict]]) -> list[str]:
    """FCA's claim on our backbone: >= 2x fewer FLOPs (padded protocol) at < 1 point average loss, and FCA
    ahead of PoWER-BERT at the same keep counts (FCA adds only its coarse tokens' FLOPs)."""
    table, drops = [], {v: [] for v in FCA_CLAIM_VARIANTS}
    for task, rows in sorted(by_task.items()):
        found = {r.get("variant"): r for r in rows if r.get("variant") in FCA_CLAIM_VARIANTS and r.get("gflops_padded")}
        if not found:
            continue
        cells = []
        for v in FCA_CLAIM_VARIANTS:
            r = found.get(v)
            if r is None:
                cells.append("–")
                continue
            drops[v].append(r["dense_score"] - r["score"])
            cells.append(f"{r['score']:.2f} ({r['score'] - r['dense_score']:+.2f}), {padded_flops_ratio(r):.2f}x")
        dense = next(iter(found.values()))["dense_score"]
        table.append([task, f"{dense:.2f}", *cells])
    if not table:
        return []
    lines = ["", "## FCA's claim: >= 2x fewer FLOPs at < 1 point loss (padded protocol)", "",
             "Score (change vs dense), FLOPs reduction with every input padded to the task length. All three variants "
             "share one retention search per task, so they keep the same fine tokens per layer.", ""]
    lines += md_table(["task", "dense", *FCA_CLAIM_VARIANTS], "lrrrr", table)
    avg = [f"{v}: {sum(d) / len(d):.2f} points over {len(d)} tasks" for v, d in drops.items() if d]
    lines += ["", "Average loss: " + "; ".join(avg) + "."]
    return lines
