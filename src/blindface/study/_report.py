"""Render a study's ``results.json`` as ``report.md``: the pooled headline, per-dataset cells,
identity at the operating point, the selection, Table II, every probe, figures."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from blindface._io import write_text

Row = Mapping[str, Any]

#: The paper's Table II (equality of opportunity) beside ours.
PAPER_TABLE2 = {("x", "biased"): 82.5, ("sensitivenets", "biased"): 91.7}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return f"{value:.{digits}f}"


def _interval(row: Row, digits: int = 0) -> str:
    if row.get("diff") is None:
        return "–"
    text = _fmt(row["diff"], digits)
    if row.get("diff_ci_low") is not None:
        text += f" [{_fmt(row['diff_ci_low'], digits)}, {_fmt(row['diff_ci_high'], digits)}]"
    return text


def method_order(methods: Sequence[str], config: Mapping[str, Any]) -> list[str]:
    """``recommended`` first, then the paper's methods, the baselines, the new ones."""
    kinds = config.get("methods", {})
    rank = {"paper": 0, "baseline": 1, "beyond": 2}
    named = sorted(
        {m for m in methods if m not in ("none", "recommended")},
        key=lambda m: (rank.get(kinds.get(m), 3), m),
    )
    return (["recommended"] if "recommended" in methods else []) + named


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pick(rows: Sequence[Row], **key: Any) -> list[Row]:
    return [r for r in rows if all(r.get(k) == v for k, v in key.items())]


def pooled_table(pooled: Sequence[Row], config: Mapping[str, Any], attacker: str = "probe") -> str:
    """The headline: pooled strongest-attacker Diff on unseen datasets per threat, identity
    lost at FAR 0.1 %, worst gender/ethnicity Diff and fit time, one line per method."""
    rows = _pick(pooled, attacker=attacker)
    if not rows:
        return "_No pooled rows were computed._\n"
    lines = [
        "| method | population Diff % [95 % CI] (cells) | relative Diff % [95 % CI] (cells) "
        "| TAR@FAR 0.1 % loss on LFW (points) | worst gender/ethnicity Diff % | fit (s) |",
        "|---|---|---|---|---|---|",
    ]
    for method in method_order([r["method"] for r in rows], config):
        cells = []
        first: Row = {}
        for threat in ("population", "relative"):
            hit = _pick(rows, method=method, threat=threat)
            if hit:
                first = first or hit[0]
                cells.append(f"{_interval(hit[0])} ({hit[0]['n_cells']})")
            else:
                cells.append("–")
        lines.append(
            f"| {method} | {cells[0]} | {cells[1]} | {_fmt(first.get('tar_loss_lfw'), 2)} "
            f"| {_fmt(first.get('worst_attribute_diff'), 0)} | {_fmt(first.get('fit_seconds'))} |"
        )
    return "\n".join(lines) + "\n"


def per_dataset_table(
    strongest: Sequence[Row], config: Mapping[str, Any], attacker: str = "probe"
) -> str:
    """Per held-out dataset and task: the strongest attacker's Diff, population / relative; the
    first line gives the best balanced accuracy on x and chance; ``n.r.``: not readable on x."""
    rows = _pick(strongest, attacker=attacker)
    if not rows:
        return ""
    columns = list(dict.fromkeys((r["heldout_dataset"], r["task"]) for r in rows))
    lines = [
        "| method | " + " | ".join(f"{d} {t} (pop / rel)" for d, t in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    cells = []
    for dataset, task in columns:
        parts = []
        for threat in ("population", "relative"):
            hit = _pick(rows, heldout_dataset=dataset, task=task, threat=threat)
            parts.append(
                f"{_fmt(hit[0]['best_before'])} ({_fmt(hit[0]['chance'], 0)})" if hit else "–"
            )
        cells.append(" / ".join(parts))
    lines.append("| x: best probe (chance) | " + " | ".join(cells) + " |")
    for method in method_order([r["method"] for r in rows], config):
        cells = []
        for dataset, task in columns:
            parts = []
            for threat in ("population", "relative"):
                hit = _pick(rows, method=method, heldout_dataset=dataset, task=task, threat=threat)
                if not hit:
                    parts.append("–")
                elif not hit[0]["readable"]:
                    parts.append("n.r.")
                else:
                    parts.append(_fmt(hit[0]["diff"], 0))
            cells.append(" / ".join(parts))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def identity_table(utility: Sequence[Row], config: Mapping[str, Any]) -> str:
    """TAR before and after at each FAR and identity set, mean over the held-out folds."""
    if not utility:
        return "_No identity rows were computed._\n"
    lines = [
        "| method | identity set | FAR | TAR x | TAR blinded | loss (points) [95 % CI, "
        "per fold] | LFW pair accuracy x → blinded |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in method_order([r["method"] for r in utility], config):
        groups: dict[tuple[str, float], list[Row]] = {}
        for r in _pick(utility, method=method):
            groups.setdefault((r["identity_set"], r["far"]), []).append(r)
        for (name, far), block in groups.items():
            intervals = ", ".join(
                f"[{_fmt(r['loss_ci_low'], 2)}, {_fmt(r['loss_ci_high'], 2)}]" for r in block
            )
            pairs = [r["pair_accuracy"] for r in block if isinstance(r.get("pair_accuracy"), dict)]
            pair_text = (
                f"{_fmt(_mean([p['before'] for p in pairs]), 2)} → "
                f"{_fmt(_mean([p['after'] for p in pairs]), 2)}"
                if pairs
                else "–"
            )
            before, after, loss = (
                _fmt(_mean([r[key] for r in block]), 2)
                for key in ("tar_before", "tar_after", "loss")
            )
            lines.append(
                f"| {method} | {name} | {far:g} | {before} | {after} | {loss} {intervals} "
                f"| {pair_text} |"
            )
    return "\n".join(lines) + "\n"


def selection_table(selection: Sequence[Row]) -> str:
    """Per held-out fold: what the inner leave-one-source-out chose for each method."""
    if not selection:
        return ""
    lines = [
        "| held out | method | choice | inner Diff % | inner TAR loss | within budget | "
        "candidates (inner Diff / loss) |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in selection:
        choice = record["choice"]
        picked = next(
            (
                c
                for c in record["candidates"]
                if c["method"] == choice["method"] and c["label"] == choice["label"]
            ),
            {},
        )
        others = "; ".join(
            f"{c['method'] + ' ' if record['scope'] == 'recommended' else ''}{c['label']}: "
            f"{_fmt(c['removed'], 0)} / {_fmt(c['tar_loss'], 2)}"
            for c in record["candidates"]
        )
        name = choice["label"]
        if record["scope"] == "recommended":
            name = f"{choice['method']} {choice['label']}"
        lines.append(
            f"| {record['heldout_dataset'] or 'all (defaults)'} | {record['scope']} | {name} "
            f"| {_fmt(picked.get('removed'), 0)} | {_fmt(picked.get('tar_loss'), 2)} "
            f"| {'yes' if record['within_budget'] else 'no'} | {others} |"
        )
    return "\n".join(lines) + "\n"


def probe_tables(rows: Sequence[Row], config: Mapping[str, Any]) -> str:
    """Every probe's balanced accuracy [95 % CI] after blinding (before, on x, in the header)."""
    lines: list[str] = []
    blocks = dict.fromkeys((r["heldout_dataset"], r["task"], r["threat"]) for r in rows)
    for dataset, task, threat in blocks:
        block = _pick(rows, heldout_dataset=dataset, task=task, threat=threat)
        probes = list(dict.fromkeys(r["probe"] for r in block))
        first = block[0]
        before = ", ".join(
            f"{p} {_fmt(_pick(block, probe=p)[0]['before_balanced_accuracy'])}" for p in probes
        )
        lines.append(
            f"**{dataset} {task}**, {threat} threat ({first['view']}) — balanced chance "
            f"{_fmt(first['balanced_chance'])} %, {first['n']} images of {first['n_people']} "
            f"people; x: {before}\n"
        )
        lines.append("| method | " + " | ".join(probes) + " |")
        lines.append("|---|" + "---|" * len(probes))
        for method in method_order([r["method"] for r in block], config):
            cells = []
            for probe in probes:
                hit = _pick(block, method=method, probe=probe)
                cells.append(
                    f"{_fmt(hit[0]['balanced_accuracy'])} [{_fmt(hit[0]['balanced_ci_low'])}, "
                    f"{_fmt(hit[0]['balanced_ci_high'])}]"
                    if hit
                    else "–"
                )
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def table2_markdown(rows: Sequence[Row], config: Mapping[str, Any]) -> str:
    """Accuracy, TPRs and equality of opportunity per representation and training set."""
    if not rows:
        return "_Table II was not computed (no CelebA under the data root)._\n"
    lines = [
        "| representation | training | accuracy | TPR smiling | TPR not smiling "
        "| equal opportunity | paper EO |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {
        m: i
        for i, m in enumerate(["x", *method_order([r["representation"] for r in rows], config)])
    }
    for r in sorted(
        rows, key=lambda r: (order.get(r["representation"], 99), r["training"] != "unbiased")
    ):
        paper = PAPER_TABLE2.get((r["representation"], r["training"]))
        lines.append(
            f"| {r['representation']} | {r['training']} | {_fmt(r['accuracy'])} ± "
            f"{_fmt(r.get('accuracy_std'))} | {_fmt(r['tpr_smiling'])} | "
            f"{_fmt(r['tpr_not_smiling'])} | {_fmt(r['equal_opportunity'])} ± "
            f"{_fmt(r.get('equal_opportunity_std'))} | {_fmt(paper)} |"
        )
    return "\n".join(lines) + "\n"


def render_report(results: Mapping[str, Any]) -> str:
    """The whole ``report.md`` text."""
    config = results.get("config", {})
    settings = config.get("settings", {})
    run = "quick" if config.get("quick") else "full"
    budget = settings.get("max_identity_loss", 0.5)
    parts = [
        "# blindface study report\n",
        f"Embedder `{config.get('embedder')}`, seed {config.get('seed')}, {run} run "
        f"({results.get('seconds', '?')} s in its last invocation; a resumed run reuses finished "
        "work). Every number is leave-one-dataset-out: each expression dataset in turn is held "
        "out, the blinders are fit on the others, and every choice (each method's strength, the "
        "`recommended` method) is made by inner leave-one-source-out on the fitting sources "
        f"only, maximising the leakage removed within a TAR at FAR 0.1 % loss of {budget:g} "
        "point.\n",
        "Leakage is the **balanced accuracy** (chance = 1 / classes) of fresh probes trained and "
        "tested on different people, under the **population** threat (the probe sees phi(x)) "
        "and the **relative** threat (it sees phi(x) - phi(ref), ref the person's enrolled "
        "neutral photo, the mean of their other sessions, or for one pair per person the "
        "symmetric view). The **strongest attacker** compares the best probe after blinding "
        "with the best probe before: Diff = (best before - best after) / (best before - "
        "chance), with a 95 % bootstrap interval over people on the Diff itself. Pooled: the "
        "mean over the held-out cells where x is readable (some probe's interval above "
        "chance).\n",
        "## Headline: unseen datasets, strongest probe attacker\n",
        pooled_table(results.get("pooled", []), config, "probe"),
        "## Other attackers (pooled Diff)\n",
        "*transfer*: probes trained on the blinded faces of the other datasets (no label of the "
        "held-out set); *inversion*: g: phi(x) -> x learnt on unlabelled faces of the fitting "
        "sources, read by probes trained on real embeddings.\n",
        pooled_table(results.get("pooled", []), config, "transfer"),
        pooled_table(results.get("pooled", []), config, "inversion"),
        "## Per held-out dataset (strongest probe attacker, Diff %)\n",
        per_dataset_table(results.get("strongest", []), config),
        "## Identity at the operating point\n",
        identity_table(results.get("utility", []), config),
        "## Selection (inner leave-one-source-out)\n",
        selection_table(results.get("selection", [])),
        "### Library defaults (the same rule over all sources)\n",
        selection_table(results.get("defaults", [])),
        "## Table II — fairness of an attractiveness classifier (CelebA)\n",
        "The paper: equality of opportunity 82.5 for x (biased) and 91.7 for the blinded "
        "representation (biased). Blinders at their default operating point.\n",
        table2_markdown(results.get("table2", []), config),
        "## Every probe (chosen operating points)\n",
        probe_tables(results.get("leakage", []), config),
        "## Figures\n",
    ]
    for name, rel in results.get("figures", {}).items():
        parts.append(f"### {name.replace('_', ' ')}\n\n![{name}]({rel})\n")
    missing = results.get("missing") or {}
    if missing:
        parts.append("## Not computed\n")
        parts.extend(f"- {name} is missing: {what}." for name, what in missing.items())
    return "\n".join(parts) + "\n"


def write_report(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``report.md`` (atomically) next to the figures it links to."""
    return write_text(path, render_report(results))
