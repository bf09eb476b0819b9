"""Learning vs forgetting along training (Biderman et al. 2024, *LoRA Learns Less and Forgets Less*):
forgetting compared at **matched learning** on the frontier curves of full fine-tuning and LoRA, and the
curves themselves for the chart. Notebook 02 measures the curves; notebooks 02 and 05 judge and draw them.
"""
from __future__ import annotations

from typing import Any, Mapping

from lorag_nb.core import claims as C


#: How a frontier checkpoint's control question is scored: the row field and its description.
CONTROL_SCORING = {"mc": ("mc_correct", "multiple-choice log-likelihood"), "gen": ("contains", "gold contained in the generated answer")}


def matched_forgetting(a, b, level: float | None = None, label_a: str = "a", label_b: str = "b", control: str = "mc"):
    """Forgetting of two frontier curves **at matched learning**: each curve's first checkpoint whose
    learning (held-out MC accuracy) reaches ``level`` (default: the lower of the two curves' best
    learning, so both reach it), and the control-set drop there against the base model's (step 0), per
    control question, scored by ``control`` (:data:`CONTROL_SCORING`: ``"mc"`` MC log-likelihood,
    ``"gen"`` gold contained in the generated answer).

    Returns:
        ``(level, {label: (step, Scores of control drop)})``; the claims engine compares the two.

    Raises:
        ValueError: a curve never reaches ``level``; an unknown ``control``.
    """

    if control not in CONTROL_SCORING:
        raise ValueError(f"control={control!r}: expected one of {sorted(CONTROL_SCORING)}")
    field = CONTROL_SCORING[control][0]
    curves = {label_a: a, label_b: b}
    best = {k: max(p["learned"] for p in r.metrics["points"]) for k, r in curves.items()}
    level = min(best.values()) if level is None else float(level)
    out = {}
    for k, r in curves.items():
        pts = r.metrics["points"]
        i = next((j for j, p in enumerate(pts) if j > 0 and p["learned"] >= level - 1e-12), None)
        if i is None:
            raise ValueError(f"{k} never reaches learning {level:.3f} (best {best[k]:.3f})")
        base = {x["id"]: float(bool(x[field])) for x in r.details["rows"][0]["control"]}
        drop = [{"id": x["id"], "drop": base[x["id"]] - float(bool(x[field]))} for x in r.details["rows"][i]["control"] if x["id"] in base]
        out[k] = (pts[i]["step"], C.scores(drop, "drop", f"{k} at step {pts[i]['step']}"))
    return level, out


def frontier_verdict(full_runs: Mapping[float, Any], lora_runs: Mapping[float, Any], condition: str = "", control: str = "mc"):
    """"LoRA forgets less" judged at matched learning on the frontier (:mod:`lorag_nb.core.claims`): of the
    learning rates given, the pair whose curves reach the highest common learning level; the paired
    interval over control questions of LoRA's drop − full fine-tuning's at that level.

    Args:
        full_runs, lora_runs: learning rate → :func:`~lorag_nb.methods.training.frontier_run` Result.
        control: how the control set is scored (:data:`CONTROL_SCORING`): ``"mc"`` gives the claim
            ``lora_forgets_less``, ``"gen"`` (generated answers) ``lora_forgets_less_gen``.

    Raises:
        ValueError: an unknown ``control``.
    """

    if control not in CONTROL_SCORING:
        raise ValueError(f"control={control!r}: expected one of {sorted(CONTROL_SCORING)}")
    claim_id = "lora_forgets_less" + ("_gen" if control == "gen" else "")

    best = None
    for lf, f in full_runs.items():
        for ll, l_ in lora_runs.items():
            lvl = min(max(p["learned"] for p in f.metrics["points"]), max(p["learned"] for p in l_.metrics["points"]))
            if best is None or lvl > best[0]:
                best = (lvl, lf, ll)
    lvl, lf, ll = best
    base_learned = full_runs[lf].metrics["points"][0]["learned"]
    if lvl <= base_learned + 1e-12:
        return C.no_sample(claim_id, f"no curve learned beyond the base model's {100 * base_learned:.0f}%: nothing to match", condition)
    level, at = matched_forgetting(lora_runs[ll], full_runs[lf], lvl, f"LoRA lr {ll:g}", f"full fine-tuning lr {lf:g}", control)
    (sl, dl), (sf, df) = at[f"LoRA lr {ll:g}"], at[f"full fine-tuning lr {lf:g}"]
    return C.compare_scores(claim_id, dl, df, f"control-set drop ({CONTROL_SCORING[control][1]}) at MATCHED learning: the first checkpoint of each curve reaching "
                            f"{100 * level:.0f}% held-out MC accuracy (LoRA lr {ll:g} step {sl}, full fine-tuning lr {lf:g} step {sf})", condition)


def frontier_series(runs: Mapping[str, Any], y: str = "control_mc") -> dict:
    """``label → (learned list, forgetting list)`` for the frontier chart: forgetting = the base model's
    ``y`` (step 0) minus the checkpoint's (a drop; positive = forgot)."""
    out = {}
    for label, r in runs.items():
        pts = r.metrics["points"]
        out[label] = ([p["learned"] for p in pts], [pts[0][y] - p[y] for p in pts])
    return out
