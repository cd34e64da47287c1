"""`dawm train-world-model` and `dawm synthesize`: thin wrappers over dawm.world_model."""

from __future__ import annotations

from dawm.cli.app import command
from dawm.world_model.config import WorldModelConfig
from dawm.world_model.synthesis import SynthesisConfig


@command("train-world-model", WorldModelConfig, "train the diffusion world model + inverse dynamics (resumable)")
def _train(cfg: WorldModelConfig) -> None:
    import json

    from dawm.world_model.trainer import train_world_model

    run = train_world_model(cfg)
    summary = json.loads((run / "summary.json").read_text())
    print(json.dumps(summary.get("val", {}), indent=2))
    print(f"run directory: {run}")


@command("synthesize", SynthesisConfig, "generate synthetic transitions with a trained world model (HDF5)")
def _synthesize(cfg: SynthesisConfig) -> None:
    from dawm.world_model.synthesis import run_synthesis

    path, ds = run_synthesis(cfg)
    meta = ds.metadata
    print(f"wrote {path}: {len(ds)} transitions in {ds.n_episodes} rollouts ({int(ds.terminals.sum())} terminal), "
          f"target RTG {meta['target_rtg']:.1f}, {meta['sampler']} x{meta['sampling_steps']}, "
          f"guidance {meta['guidance']}, "
          f"{len(ds) / max(meta['generation_seconds'], 1e-9):.0f} transitions/s")
