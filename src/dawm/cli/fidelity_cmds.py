"""`dawm fidelity`: how true synthetic transitions are, checked against the MuJoCo simulator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import tyro

from dawm.cli.app import command
from dawm.world_model.fidelity import FidelityConfig


@dataclass
class FidelityCli(FidelityConfig):
    synthetic: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="SYNTHETIC_FILE")] = ""
    """Synthetic dataset (HDF5 in the project's export format)."""


@command("fidelity", FidelityCli, "check synthetic transitions against the true simulator", required=("synthetic",))
def _fidelity(cfg: FidelityCli) -> None:
    from dawm.world_model.fidelity_outputs import run_fidelity
    from dawm.world_model.fidelity_outputs import format_table

    report, out = run_fidelity(cfg.synthetic, cfg)
    print(format_table(report))
    print(f"\nwrote {out}/fidelity.json, {out}/fidelity.md and rollout plots")
