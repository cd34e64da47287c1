"""`dawm train-agent`: offline TD3+BC / IQL (a thin layer over dawm.agents.train_agent)."""

from __future__ import annotations

from dawm.agents.trainer import TrainAgentConfig, train_agent
from dawm.cli.app import command


@command("train-agent", TrainAgentConfig, "train TD3+BC or IQL offline on a dataset (resumable)")
def _train_agent(cfg: TrainAgentConfig) -> None:
    s = train_agent(cfg)
    over = f" (mean ± std over seeds {s['seeds']})" if s.get("seeds") else ""
    score = (f"final normalised score {s['final_score_mean']:.1f} ± {s['final_score_std']:.1f}{over}"
             if s.get("final_score_mean") is not None else f"final return {s.get('final_return_mean')}")
    rate = f", {s['updates_per_s']:.0f} updates/s" if s.get("updates_per_s") else ""
    print(f"{s['algo']} on {s['dataset']}: {score} after {s['steps']} updates{rate}")
    print(f"run directory: {s['run_dir']}")
