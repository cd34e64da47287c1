"""`dawm run`: the whole DAWM pipeline in one command."""

from __future__ import annotations

from dawm.cli.app import command
from dawm.pipeline import RunConfig, run_pipeline
from dawm.results.verdict import fidelity_verdict, score_lines


def format_summary(summary: dict) -> str:
    """What `dawm run` prints: the score beside its baseline's, the synthetic data's quality in the terms
    that decide whether it is worth using, and the time per stage."""
    lines = [f"method {summary['method']}  dataset {summary['dataset']}  seed {summary['seed']}"]
    lines += [("normalised score   " if i == 0 else " " * 19) + line for i, line in enumerate(score_lines(summary))]
    fid = summary.get("fidelity")
    if fid:
        lines.append(f"synthetic data     {summary['synthetic_transitions']:,} transitions  "
                     f"-> {summary['synthetic_file']}")
        if summary.get("synthetic_source"):
            lines.append(f"  trained on       {summary['synthetic_source']}")
        lines += ["  " + line for line in fidelity_verdict(fid)]
        lines.append(f"  full report      {fid['report']}")
        others = summary.get("per_seed_stages", [])[1:]
        if others:  # vectorised seeds: seed 0's set above, the others' in one line each
            lines += [f"  seed {summary['seed'] + k}           {s['synthetic_transitions']:,} transitions  -> "
                      f"{s['synthetic_file']}" for k, s in enumerate(others, 1)]
    times = "  ".join(f"{k} {v:.0f}s" for k, v in summary["stage_seconds"].items())
    trained = summary.get("agent_run_seconds")
    if trained and trained > 2 * summary["stage_seconds"].get("agent", 0.0):  # reused (or resumed): say what it took
        times += f"  (the agent run took {trained:.0f}s in all)"
    lines.append("time per stage     " + times)
    if summary.get("report"):
        lines.append(f"report             {summary['report']}")
    return "\n".join(lines)


@command("run", RunConfig,
         "world model -> synthetic data -> TD3+BC/IQL -> normalised score (one dataset, method, seed)")
def _run(cfg: RunConfig) -> None:
    summary = run_pipeline(cfg)
    print(format_summary(summary))
