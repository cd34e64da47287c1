"""SAC behaviour training: snapshots with evaluations, resume, publishing the medium-replay recipe."""

from __future__ import annotations

import json

from dawm.envs.behaviour import BehaviourConfig, publish_behaviour, select_medium, train_behaviour
from dawm.envs.policies import GaussianMLPPolicy


def test_train_resume_publish(tmp_path):
    run = tmp_path / "run"
    cfg = BehaviourConfig(env="hopper", total_steps=400, learning_starts=200, checkpoint_every=200,
                          eval_episodes=1, out=str(run))
    train_behaviour(cfg)
    first = json.loads((run / "index.json").read_text())["snapshots"]
    assert [s["step"] for s in first] == [200, 400]
    # Resuming to a larger budget continues from step 400, it does not start over.
    cfg.total_steps = 600
    train_behaviour(cfg)
    snaps = json.loads((run / "index.json").read_text())["snapshots"]
    assert [s["step"] for s in snaps] == [200, 400, 600]
    assert snaps[-1]["episodes"] >= snaps[0]["episodes"] > 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 600 and summary["snapshots"] == 3

    index = {"env_id": "Hopper-v5", "snapshots": snaps}
    # Force a "medium" at the second snapshot by choosing the band around its return.
    r = snaps[1]["eval_return_mean"]
    assert select_medium(index, (r - 1e-6, r + 1e-6))["step"] == 400
    dest = publish_behaviour(run, tmp_path / "assets")
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["best"]["step"] in (200, 400, 600)
    manual = json.loads((publish_behaviour(run, tmp_path / "m", medium_step=200, note="why")
                         / "manifest.json").read_text())
    assert manual["levels"]["medium"]["step"] == 200 and manual["note"] == "why"
    assert [p["steps"] for p in manual["levels"]["medium-replay"]["series"]] == [200]
    for level in manifest["levels"].values():
        if "file" in level:
            GaussianMLPPolicy.load(dest / level["file"])
