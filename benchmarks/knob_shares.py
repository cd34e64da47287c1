"""How much of a dataset and of its synthetic sets the two defects fixed at ad16753 touched (issue #27's plan
amendment of 2026-12-07, docs/results.md): the share of rows whose own return-to-go is negative (`own*X` asked them
for less), and, for each synthetic set still under runs/ (they are not committed: tens of MB each), the share of
its kept starts with a negative own return-to-go and of its kept rollouts that end in a fall (the filter judged
those on the same steps as the real segment).

    python benchmarks/knob_shares.py --datasets walker2d-medium-replay hopper-medium-expert halfcheetah-medium-replay \\
        --sets 'runs/confirm/pipeline/synthetic/*.hdf5'
"""

from __future__ import annotations

import argparse
import glob

import numpy as np

from dawm.data import read_d4rl, returns_to_go
from dawm.envs.collect import load_dataset
from dawm.utils.runs import digest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", required=True)
    p.add_argument("--sets", default="", help="a glob of synthetic sets (their source must be among --datasets)")
    p.add_argument("--gamma", type=float, default=0.99)
    args = p.parse_args()
    rtg = {}
    print("| dataset | rows | rows with a negative return-to-go | content digest (the records' dataset_digest) |\n"
          "|---|---:|---:|---|")
    for name in args.datasets:
        ds = load_dataset(name)
        rtg[name] = returns_to_go(ds, args.gamma)
        print(f"| {name} | {len(ds)} | {(rtg[name] < 0).mean():.4f} | {digest(ds.fingerprint())} |")
    files = sorted(f for f in glob.glob(args.sets) if not f.endswith("-oracle.hdf5")) if args.sets else []
    if files:
        print("\n| synthetic set | rollouts kept | kept starts with a negative return-to-go "
              "| kept rollouts ending in a fall |\n|---|---:|---:|---:|")
    for file in files:
        syn = read_d4rl(file)
        source = next((n for n in args.datasets if file.rsplit("/", 1)[-1].startswith(n + "-")), None)
        if source is None:
            continue
        first = syn.episode_starts
        starts = np.asarray(syn.infos["start_index"]).reshape(-1)[first]
        print(f"| {file.rsplit('/', 1)[-1]} | {len(first)} | {(rtg[source][starts] < 0).mean():.4f} | "
              f"{syn.terminals.sum() / len(first):.4f} |")


if __name__ == "__main__":
    main()
