"""`dawm fidelity` end to end (`run_fidelity` loads, `check_fidelity` measures with dawm.world_model.fidelity and
writes) and what it writes: fidelity.json, a Markdown table, and trajectory plots.

The plots (matplotlib, Agg backend) show real vs synthetic trajectories from the same start pair.
Per rollout, a few state dimensions and the reward over the horizon:
  - real: the source dataset's own continuation from infos/start_index (same episode only);
  - synthetic: the generated s_0..s_H and r_0..r_{H-1};
  - simulator replay: the synthetic actions executed open loop from s_0 in the true env;
  - ensemble replay (optional): the same actions through the one-step model ensemble.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dawm.data.dataset import Dataset
from dawm.envs.collect import load_dataset
from dawm.envs.simulator import Simulator, resolve_env_id
from dawm.utils.checkpoint import atomic_write, write_json
from dawm.utils.errors import DawmError
from dawm.utils.plotting import pyplot, save_figure
from dawm.world_model.dynamics_ensemble import ensemble_dir, reference_ensemble
from dawm.world_model.fidelity import (_SOURCE_KEYS, FidelityConfig, ensemble_rollout, fidelity_report,
                                       rollouts)
from dawm.world_model.inverse_dynamics import InverseDynamics


def _f(x, fmt=".3g") -> str:
    return "-" if x is None else format(x, fmt)


def format_table(report: dict) -> str:
    """Markdown table (also readable in a terminal): one row per horizon step, then the floor."""
    syn, ens = report["synthetic_vs_sim"], report.get("ensemble_vs_sim")
    idm_c = report.get("idm", {}).get("synthetic_consistency")
    loop = report.get("open_loop", {})
    head = ["horizon step", "n", "state RMSE", "ensemble state RMSE", "reward MAE", "ensemble reward MAE",
            "done acc", "done FN", "done FP", "action spread", "state-change spread", "novelty",
            "IDM consistency RMSE", "open-loop RMSE"]
    lines = [f"Fidelity of {report['synthetic']} ({report['env_id']}; {report['n_samples']} sampled transitions, "
             f"errors in std units of the {report['std_from']} data)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    keys = ["all"] + sorted(syn.get("by_horizon", {}), key=int)
    for k in keys:
        get = (lambda d: d[k]) if k == "all" else (lambda d: d["by_horizon"][k])
        m, e = get(syn), get(ens) if ens else {}
        c = get(idm_c) if idm_c else {}
        sp = get(report["spread"]) if report.get("spread") else {}
        nov = get(report["novelty"]) if report.get("novelty") else {}
        ol = loop.get("synthetic_state_rmse", [])
        ol_k = ol[int(k)] if k != "all" and int(k) < len(ol) else None
        lines.append("| " + " | ".join([k, str(m["n"]), _f(m.get("state_rmse")), _f(e.get("state_rmse")),
                                         _f(m.get("reward_mae")), _f(e.get("reward_mae")), _f(m.get("term_accuracy")),
                                         _f(m.get("term_false_negative_rate")),
                                         _f(m.get("term_false_positive_rate")), _f(sp.get("action_spread")),
                                         _f(sp.get("state_change_spread")), _f(nov.get("novelty")),
                                         _f(c.get("state_rmse")), _f(ol_k)]) + " |")
    real = report.get("real_vs_sim")
    if real:
        lines.append("| " + " | ".join(["real data (floor)", str(real["n"]), _f(real.get("state_rmse")), "-",
                                         _f(real.get("reward_mae")), "-", _f(real.get("term_accuracy")),
                                         _f(real.get("term_false_negative_rate")),
                                         _f(real.get("term_false_positive_rate")), "1", "1", "1",
                                         _f(report.get("idm", {}).get("real_consistency", {}).get("state_rmse")),
                                         "-"]) + " |")
    lines += ["", f"velocity-clipped start states: {100 * report['velocity_clipped_fraction']:.1f}% "
                  "(their simulation is approximate)"]
    achieved = report.get("achieved_return")
    if achieved:
        judges = [k for k in ("model", "ensemble", "simulator", "real") if k in achieved["all"]]
        lines += ["", f"Achieved return (discounted, gamma {achieved['gamma']}) over each rollout's steps, against the "
                      "real segment from the same start, by quartile of the start's own return-to-go:", "",
                  "| starts | n | own return-to-go | " + " | ".join(judges) + " |", "|" + "---|" * (len(judges) + 3)]
        for name, row in [("all", achieved["all"]), *achieved["by_own_return_quartile"].items()]:
            label = name if name == "all" else f"quartile {name}"
            lines.append(f"| {label} | {row['n']} | {_f(row['own_return_to_go'])} | "
                         + " | ".join(_f(row[k]) for k in judges) + " |")
    held = report.get("idm", {}).get("heldout_actions")
    if held:
        lines.append(f"IDM on held-out real pairs: action MAE {held['action_mae']:.4f}, RMSE "
                     f"{held['action_rmse']:.4f} ({held['n']} pairs)")
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path) -> list[Path]:
    """fidelity.json + fidelity.md in `out_dir` (atomic writes)."""
    out_dir = Path(out_dir)
    md = format_table(report) + "\n"
    return [write_json(out_dir / "fidelity.json", report),
            atomic_write(out_dir / "fidelity.md", lambda tmp: Path(tmp).write_text(md))]


_STYLE = {"real": dict(color="black", lw=2.2, alpha=0.5), "synthetic": dict(color="tab:orange", lw=1.4),
          "simulator replay": dict(color="tab:green", lw=1.2, ls="--"),
          "ensemble replay": dict(color="tab:purple", lw=1.2, ls=":")}


def _state_dims(nq: int, obs_dim: int) -> list[tuple[int, str]]:
    # height and torso angle decide termination; x velocity drives the reward; one joint angle
    return [(0, "obs[0] (torso z)"), (1, "obs[1] (torso angle)"), (2, "obs[2] (joint)"),
            (nq - 1, f"obs[{nq - 1}] (x velocity)")][: obs_dim]


def plot_rollouts(synthetic: Dataset, out_dir: str | Path, source: Dataset | None = None, env_id: str | None = None,
                  ensemble=None, n: int = 3, seed: int = 0) -> list[Path]:
    """Write rollout_<i>.png for `n` randomly chosen synthetic rollouts; returns the paths.

    Needs infos/horizon_step (to find rollout starts); the real curve also needs infos/start_index.
    """
    plt = pyplot()
    if "horizon_step" not in synthetic.infos or n <= 0:
        return []
    sim = Simulator(env_id or synthetic.env_id or (source.env_id if source is not None else ""))
    next_syn, _ = synthetic.successors()
    chosen = rollouts(synthetic, next_syn)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(chosen), size=min(n, len(chosen)), replace=False) if chosen else []
    starts = synthetic.infos.get("start_index")
    dims = _state_dims(sim.nq, synthetic.obs_dim)
    paths = []
    for i, pick in enumerate(sorted(picks)):
        row, states = chosen[pick]
        h = len(states) - 1
        acts = synthetic.actions[row : row + h]
        replay, replay_rew, _ = sim.rollout(states[:1], acts[None])
        curves = {"synthetic": (states, synthetic.rewards[row : row + h]),
                  "simulator replay": (np.concatenate([states[:1], replay[0]]), replay_rew[0])}
        if ensemble is not None:
            ens = ensemble_rollout(ensemble, states[:1], acts[None])[0]
            curves["ensemble replay"] = (np.concatenate([states[:1], ens]), ensemble.predict(
                np.concatenate([states[:1], ens[:-1]]), acts)[1])
        start = int(np.asarray(starts).reshape(-1)[row]) if starts is not None else -1
        if source is not None and 0 <= start < len(source):
            end = min(start + h, int(source.episode_ends[np.searchsorted(source.episode_ends, start, "right")]))
            real_next, _ = source.successors()
            real_states = np.concatenate([source.observations[start:end], real_next[end - 1 : end]])
            curves = {"real": (real_states, source.rewards[start:end]), **curves}
        fig, axes = plt.subplots(1, len(dims) + 1, figsize=(3.2 * (len(dims) + 1), 3.0))
        for ax, (d, label) in zip(axes, dims):
            for name, (st, _) in curves.items():
                ax.plot(np.arange(len(st)), st[:, d], label=name, marker=".", **_STYLE[name])
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("horizon step")
        for name, (_, rew) in curves.items():
            axes[-1].plot(np.arange(len(rew)), rew, label=name, marker=".", **_STYLE[name])
        axes[-1].set_title("reward", fontsize=9)
        axes[-1].set_xlabel("horizon step")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{synthetic.name}: rollout at row {row}", fontsize=10)
        fig.tight_layout()
        path = Path(out_dir) / f"rollout_{i}.png"
        paths.append(save_figure(fig, path, dpi=90))
    sim.close()
    return paths


def run_fidelity(synthetic_path: str | Path, cfg: FidelityConfig | None = None) -> tuple[dict, Path]:
    """`dawm fidelity`: load everything `cfg` names, then `check_fidelity`. Returns (report, output directory)."""
    cfg = cfg or FidelityConfig()
    synthetic_path = Path(synthetic_path)
    synthetic = load_dataset(str(synthetic_path))
    source_name = cfg.dataset or next((synthetic.metadata[k] for k in _SOURCE_KEYS if synthetic.metadata.get(k)), None)
    source = load_dataset(source_name) if source_name else None
    idm = InverseDynamics.load(Path(cfg.world_model) / "idm.pt") if cfg.world_model else None
    out = Path(cfg.out) if cfg.out else synthetic_path.with_name(synthetic_path.stem + "-fidelity")
    return check_fidelity(synthetic, synthetic_path, source, cfg, out, synthetic_path.parent, idm), out


def check_fidelity(synthetic: Dataset, synthetic_path: Path, source: Dataset | None, cfg: FidelityConfig, out: Path,
                   ensemble_base: Path, idm: InverseDynamics | None = None) -> dict:
    """Measure the loaded `synthetic` set (the file at `synthetic_path`) against `source` and the simulator, and
    write fidelity.json, fidelity.md and rollout PNGs to `out`; returns the report. The reference ensemble is the
    one under `ensemble_base` (`ensemble_dir`: the guards' own when size and seed agree)."""
    env_id = resolve_env_id(cfg.env or synthetic.env_id or (source.env_id if source is not None else "") or "")
    if source is not None and (source.obs_dim, source.act_dim) != (synthetic.obs_dim, synthetic.act_dim):
        raise DawmError(f"{synthetic_path}: observation/action widths {synthetic.obs_dim}/{synthetic.act_dim} do not "
                        f"match the source dataset {source.name} ({source.obs_dim}/{source.act_dim})")
    ensemble, ens_summary = None, None
    if source is not None and cfg.ensemble_steps > 0:
        ensemble, ens_summary = reference_ensemble(source, ensemble_dir(ensemble_base, source, cfg, cfg.seed),
                                                   cfg.ensemble_config(cfg.seed))
    report = fidelity_report(synthetic, env_id, source, idm=idm, ensemble=ensemble, n_samples=cfg.n_samples,
                             seed=cfg.seed, n_rollouts=cfg.n_rollouts)
    report["synthetic_file"] = str(synthetic_path)
    if ens_summary is not None:
        report["ensemble_training"] = {k: ens_summary[k] for k in ("steps", "holdout_mse", "train_transitions")}
    write_report(report, out)
    plot_rollouts(synthetic, out, source=source, env_id=env_id, ensemble=ensemble, n=cfg.n_plots, seed=cfg.seed)
    return report
