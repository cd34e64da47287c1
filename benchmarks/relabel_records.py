"""One-off (issue #29): label the committed cell records with what makes them comparable, without re-running them.

    python benchmarks/relabel_records.py [--dry-run] [ROOT ...]   (default: every record under benchmarks/results/)

Each cell record (<method>__<dataset>__seed<k>.json) gets a `record` (dawm.results.records) holding what can be
derived from the record itself, its paths, the git history and the session notes; every derived value is named
in `record.derived` with how it was derived, and whatever cannot be derived stays absent, i.e. "unknown". An
original value is never overwritten, and a record that already has a field keeps it, so running this again
changes nothing. What is derived:

- machine (cpu) and data draw: the date the record was first committed. Sessions up to 2026-12-02 ran on an AMD
  EPYC, those of 2026-12-05/06 on an Intel Xeon (session notes, `issues stops`); a dataset generated again on
  another CPU is another draw. The AMD draw's digest is recomputed on an AMD machine from the datasets the
  records name (collection is exact per CPU: the episode counts the docs record for the AMD draw match, e.g.
  hopper-medium-replay 1,869); the Intel draw's is the digest Intel-era records of that name already carry.
- precision: the session notes (which runs passed --precision bfloat16), `PRECISION` below.
- budget: sample_counts / 256 (updates x batch; the batch was 256 at every commit).
- evaluation: TrainAgentConfig's eval_every / eval_episodes at the commit that first added the record (no study
  set them).
- world model: its key from the record's world_model path (the run directory's hash); the studies pinned
  world_model_seed to 0 (benchmarks/study_synthetic.py since it was written), and a seed-0 world model's recipe
  is its key (what `dawm run` records for it), so the recipe is derived as the key.
- torch: tasks.py's pinned wheel at that commit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from dawm.envs.collect import load_dataset
from dawm.utils.runs import digest
from dawm.results.records import RECORD_SCHEMA, has_world_model
from dawm.utils.provenance import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
AMD, INTEL = "AMD EPYC", "Intel Xeon with AMX"
NOTES = "session notes (`issues stops`)"

# (records folder relative to benchmarks/results, first-commit date or "" for any) -> agent precision, from the notes
PRECISION = {
    ("study-synthetic/baseline", ""): "float32",  # the bfloat16 plain cells live in parity-precision/bfloat16
    ("study-synthetic/published", ""): "float32",
    ("study-synthetic/combined", ""): "float32",
    ("study-synthetic/combined+consistency-0.9", ""): "float32",
    ("study-synthetic/oracle", ""): "float32",
    ("study-synthetic/combined+ratio-0.25", ""): "float32",
    ("study-synthetic/dwm", ""): "float32",  # session 9: "float32, 30k updates"
    ("study-synthetic/combined+ratio-0.25+karras", ""): "bfloat16",  # session 11
    ("study-synthetic/combined+ratio-0.25+mlp-denoiser", ""): "bfloat16",
    ("study-synthetic/combined+ratio-0.25+oracle", ""): "bfloat16",  # sessions 11-13
    ("study-synthetic/combined+ratio-0.25+ensemble-labels", ""): "bfloat16",
    ("study-synthetic/combined+ratio-0.25+horizon-3", ""): "bfloat16",  # session 12
    ("study-synthetic/combined+ratio-0.25+return-starts", ""): "bfloat16",
    ("study-scarce/baseline", ""): "bfloat16",  # sessions 10, 13
    ("study-scarce/combined+ratio-0.25", ""): "bfloat16",
    ("parity-precision/float32", ""): "float32",
    ("parity-precision/bfloat16", ""): "bfloat16",
}
XEON_FOLDERS = ("study-xeon/",)  # every record there ran on the Intel machine in bfloat16 (session 13)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=RESULTS, capture_output=True, text=True, check=True).stdout.strip()


@lru_cache(maxsize=None)
def first_commit(path: Path) -> tuple[str, str]:
    """(sha, date) of the commit that added the file."""
    out = git("log", "--diff-filter=A", "--format=%H %ad", "--date=short", "--", str(path))
    sha, date = out.splitlines()[-1].split()
    return sha, date


@lru_cache(maxsize=None)
def source_at(sha: str, file: str) -> str:
    return git("show", f"{sha}:{file}")


def machine_of(date: str) -> str:
    return AMD if date <= "2026-12-02" else INTEL


@lru_cache(maxsize=None)
def amd_digest(name: str) -> str | None:
    """The content digest of this machine's draw of `name` (a generated name, or a subset file under runs/data)."""
    if not cpu_model().startswith("AMD EPYC"):
        return None  # the AMD draw can only be made again on an AMD machine
    path = Path("runs/data") / f"{name}.hdf5"
    try:
        ds = load_dataset(str(path) if path.exists() else name)
    except Exception as exc:  # noqa: BLE001 -- a dataset we cannot make here stays unknown
        print(f"{name}: not available here ({exc}); its AMD digest stays unknown", file=sys.stderr)
        return None
    return digest(ds.fingerprint())


def intel_digests(paths: list[Path]) -> dict[str, str]:
    """{dataset: digest} that the Intel-era records carry (one each, else left out)."""
    seen: dict[str, set] = {}
    for p in paths:
        cell = json.loads(p.read_text())
        if cell.get("dataset_digest") and machine_of(first_commit(p)[1]) == INTEL:
            seen.setdefault(cell["dataset"], set()).add(cell["dataset_digest"])
    return {d: next(iter(v)) for d, v in seen.items() if len(v) == 1}


def precision_of(path: Path) -> str | None:
    folder = str(path.parent.relative_to(RESULTS))
    if folder.startswith(XEON_FOLDERS):
        return "bfloat16"
    return PRECISION.get((folder, ""))


def relabel(path: Path, intel: dict[str, str]) -> dict:
    cell = json.loads(path.read_text())
    record = dict(cell.get("record") or {})
    derived = dict(record.get("derived") or {})
    sha, date = first_commit(path)
    where = machine_of(date)

    def put(key: str, value, how: str) -> None:
        if value is not None and key not in record:
            record[key] = value
            derived[key] = how

    record.setdefault("schema", RECORD_SCHEMA)
    if cell.get("dataset_digest"):
        record.setdefault("dataset_digest", cell["dataset_digest"])  # original
    else:
        digest = amd_digest(cell["dataset"]) if where == AMD else intel.get(cell["dataset"])
        put("dataset_digest", digest, f"the {where} draw (record first committed {date}); {NOTES}")
    put("cpu", where, f"first committed {date}; {NOTES}")
    put("precision", precision_of(path), NOTES)
    counts = cell.get("sample_counts") or {}
    if counts:
        put("budget", {"updates": sum(counts.values()) // 256, "batch": 256}, "sample_counts / batch 256")
    trainer = source_at(sha, "src/dawm/agents/trainer.py")
    every, episodes = (re.search(rf"{k}: int = ([\d_]+)", trainer) for k in ("eval_every", "eval_episodes"))
    if every and episodes:
        put("evaluation", {"every": int(every[1].replace("_", "")), "episodes": int(episodes[1])},
            f"TrainAgentConfig defaults at {sha[:7]}")
    torch_pin = re.search(r'"(torch==[\d.]+)"', source_at(sha, "tasks.py"))
    put("torch", torch_pin and torch_pin[1].removeprefix("torch=="), f"tasks.py at {sha[:7]}")
    if has_world_model(cell) and cell.get("world_model"):
        key = str(cell["world_model"]).rstrip("/").rsplit("-", 1)[-1]
        put("world_model_key", key, "the world_model run path")
        put("world_model_seed", 0, "benchmarks/study_synthetic.py pins world_model_seed 0")
        if str(record.get("world_model_recipe", "")).startswith("seed-0 key "):  # this script's first form
            del record["world_model_recipe"]
        put("world_model_recipe", key, "seed 0 (pinned): its key is its recipe, as a seed-0 run records it")
    record["derived"] = derived
    return {**cell, "record": record}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="*", default=[str(RESULTS)])
    p.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    args = p.parse_args()
    paths = sorted(q for r in args.roots for q in Path(r).rglob("*__*__seed*.json")
                   if "/pipeline/" not in str(q) and "parity-d3rlpy" not in str(q))
    intel = intel_digests(paths)
    changed = 0
    for path in paths:
        before = json.loads(path.read_text())
        after = relabel(path, intel)
        if after != before:
            changed += 1
            if not args.dry_run:
                path.write_text(json.dumps(after, indent=2) + "\n")
    unknown: dict[str, int] = {}
    for path in paths:
        rec = json.loads(path.read_text()).get("record", {}) if not args.dry_run else relabel(path, intel)["record"]
        for key in ("dataset_digest", "precision", "budget", "evaluation", "cpu"):
            unknown[key] = unknown.get(key, 0) + (key not in rec)
    print(f"{len(paths)} records, {changed} {'would change' if args.dry_run else 'changed'}; still unknown: "
          + ", ".join(f"{k} {n}" for k, n in unknown.items()))


if __name__ == "__main__":
    main()
