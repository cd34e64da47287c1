"""A grid's statistics, computed once, and written as Markdown, CSV and a LaTeX (booktabs) table."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from dawm.results import stats
from dawm.results.stats import Estimate, Scores

FEW_SEEDS = 5  # below this the intervals are too wide to separate small differences; the tables say so


@dataclass
class GridStats:
    """Every number a grid's report shows, from the per-seed final scores."""

    datasets: list[str]
    methods: list[str]
    scores: Scores
    reps: int = stats.REPS
    per_dataset: dict = field(default_factory=dict)     # (dataset, method) -> {mean, std, iqm: Estimate}
    aggregate: dict = field(default_factory=dict)       # method -> {iqm, optimality_gap: Estimate}
    improvement: dict = field(default_factory=dict)     # (x, y) -> {"all" | dataset: Estimate}
    effect: dict = field(default_factory=dict)          # (x, y) -> {"all" | dataset: IQM(x) - IQM(y), Estimate}
    notes: list[str] = field(default_factory=list)      # what the cells share and where they differ (records.py)

    @classmethod
    def compute(cls, scores: Scores, datasets: list[str], methods: list[str], reps: int = stats.REPS) -> GridStats:
        g = cls(datasets, methods, scores, reps)
        g.per_dataset = stats.dataset_table(scores, reps)
        g.aggregate = stats.aggregate_table(scores, methods, datasets, reps)
        for x, y in stats.improvement_pairs(methods):
            for into, estimate in ((g.improvement, stats.probability_of_improvement), (g.effect, stats.difference)):
                by = {d: estimate(scores, x, y, [d], reps) for d in datasets}
                by["all"] = estimate(scores, x, y, datasets, reps)
                into[x, y] = {k: v for k, v in by.items() if v is not None}
        return g

    def fewest_seeds(self) -> int:
        return min((v["iqm"].n for v in self.per_dataset.values()), default=0)

    def caveat(self) -> str:
        n = self.fewest_seeds()
        if n >= FEW_SEEDS:
            return ""
        return (f"Only {n} seed(s) in some cells: the intervals are wide (none with 1 seed), and differences "
                f"inside them are not evidence; the field asks for at least {FEW_SEEDS}.")


def markdown(g: GridStats) -> str:
    """results.md: IQM [95% CI] and mean ± std per dataset, aggregates, probability of improvement."""
    head = "| dataset | " + " | ".join(g.methods) + " |\n" + "|---" * (len(g.methods) + 1) + "|"

    def rows(cell) -> list[str]:
        return [f"| {d} | " + " | ".join(cell(g.per_dataset.get((d, m))) for m in g.methods) + " |" for d in g.datasets]

    lines = ["Final D4RL normalised score per dataset: IQM with 95% stratified bootstrap CI over seeds "
             f"(rliable, {g.reps} resamples).", "", head,
             *rows(lambda c: c["iqm"].text() if c else "—"), "",
             "Mean ± std over seeds (n = seeds).", "", head,
             *rows(lambda c: f"{c['mean']:.1f} ± {c['std']:.1f} (n={c['iqm'].n})" if c else "—")]
    if g.aggregate:
        lines += ["", "Across datasets (the first n seeds of each dataset): IQM and optimality gap (below 100).", "",
                  "| method | IQM | optimality gap | seeds per dataset |", "|---|---|---|---|"]
        lines += [f"| {m} | {a['iqm'].text()} | {a['optimality_gap'].text()} | {a['iqm'].n} |"
                  for m, a in g.aggregate.items()]
    if g.improvement:
        lines += ["", "Probability of improvement P(X > Y) with 95% CI (0.5 = no difference; all = averaged over "
                      "datasets), and beside it the effect in score points: IQM(X) - IQM(Y) [95% CI].",
                  "", "| X | Y | all | " + " | ".join(g.datasets) + " |", "|---" * (len(g.datasets) + 3) + "|"]
        for (x, y), by in g.improvement.items():
            effect = g.effect.get((x, y), {})
            cells = [f"{by[k].text(2)}; {effect[k].signed()}" if k in by and k in effect else "—"
                     for k in ("all", *g.datasets)]
            lines.append(f"| {x} | {y} | " + " | ".join(cells) + " |")
    if g.caveat():
        lines += ["", g.caveat()]
    if g.notes:
        lines += ["", *g.notes]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["kind", "dataset", "method", "versus", "n", "mean", "std", "value", "low", "high"]


def csv_text(g: GridStats) -> str:
    """results.csv: the same numbers, one row each (kind: iqm, optimality_gap or improvement)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()

    def row(kind: str, dataset: str, method: str, e: Estimate, versus: str = "", **extra):
        writer.writerow({"kind": kind, "dataset": dataset, "method": method, "versus": versus, "n": e.n,
                         "value": f"{e.value:.4f}", "low": f"{e.low:.4f}", "high": f"{e.high:.4f}", **extra})

    for (d, m), c in g.per_dataset.items():
        row("iqm", d, m, c["iqm"], mean=f"{c['mean']:.4f}", std=f"{c['std']:.4f}")
    for m, a in g.aggregate.items():
        row("iqm", "all", m, a["iqm"])
        row("optimality_gap", "all", m, a["optimality_gap"])
    for kind, table in (("improvement", g.improvement), ("difference", g.effect)):
        for (x, y), by in table.items():
            for d, e in by.items():
                row(kind, d, x, e, versus=y)
    return out.getvalue()


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def latex(g: GridStats) -> str:
    """results.tex: booktabs table of IQM [95% CI] (datasets x methods, plus the aggregate IQM), the
    best IQM of each row in bold; \\input it in a paper (needs \\usepackage{booktabs})."""
    lines = [r"\begin{tabular}{l" + "c" * len(g.methods) + "}", r"\toprule",
             "Dataset & " + " & ".join(_tex(m) for m in g.methods) + r" \\", r"\midrule"]

    def line(label: str, cells: list[Estimate | None]) -> str:
        best = max((e.value for e in cells if e is not None), default=None)
        parts = []
        for e in cells:
            if e is None:
                parts.append("--")
                continue
            value = f"{e.value:.1f}"
            value = rf"\textbf{{{value}}}" if e.value == best else value
            parts.append(value + (rf" {{\scriptsize [{e.low:.1f}, {e.high:.1f}]}}" if e.n >= 2 else ""))
        return f"{_tex(label)} & " + " & ".join(parts) + r" \\"

    for d in g.datasets:
        lines.append(line(d, [c["iqm"] if (c := g.per_dataset.get((d, m))) else None for m in g.methods]))
    if g.aggregate:
        lines += [r"\midrule", line("IQM, all datasets", [g.aggregate[m]["iqm"] if m in g.aggregate else None
                                                          for m in g.methods])]
    lines += [r"\bottomrule", r"\end{tabular}",
              f"% D4RL normalised score, IQM [95% stratified bootstrap CI] over {g.fewest_seeds()}+ seeds (rliable)."]
    return "\n".join(lines) + "\n"
