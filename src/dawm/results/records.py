"""What makes two cell records comparable, and the rule that keeps tables like with like.

Every `run_pipeline` summary carries a `record` (schema `RECORD_SCHEMA`): the dataset's content digest,
the agent's precision, compile mode, budget and evaluation protocol, the world model's recipe (a hash of
its config and data without its seed) and key (its run directory's hash, seed included), where the run
was made (code version, torch, CPU) and, for records labelled after the fact, which values were derived
(`derived`). A field a record lacks is "unknown", and shown as such.

A table refuses to put two cells in one comparison when a `COMPARED` field differs between them:
the data within a dataset, the precision, budget and evaluation protocol across the whole table, the
world-model recipe among the cells of a dataset that have a world model (plain agents have none). A
difference the caller allows (`allow`, the CLI's --allow-mismatch) is kept and named in the table;
code versions and machines are only shown.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from dawm.utils.errors import DawmError

RECORD_SCHEMA = 1
UNKNOWN = "unknown"
NONE = "none"  # no world model (plain agents)

# the word tables and --allow-mismatch use -> the record's field
COMPARED = {"data": "dataset_digest", "precision": "precision", "budget": "budget", "evaluation": "evaluation",
            "world-model": "world_model_recipe"}
PER_DATASET = ("data", "world-model")  # compared within a dataset; the rest across the whole table


def has_world_model(cell: dict) -> bool:
    return str(cell.get("method", "")).startswith(("dawm-", "dwm-"))


def value(cell: dict, name: str):
    """A cell's value of a record field (a COMPARED word or a record key): the record's, else UNKNOWN.
    The data digest predates the record (top-level `dataset_digest`); a plain agent's world model is NONE."""
    key = COMPARED.get(name, name)
    if key in ("world_model_recipe", "world_model_key", "world_model_seed") and not has_world_model(cell):
        return NONE
    record = cell.get("record") or {}
    if key in record and record[key] is not None:
        return record[key]
    if key == "dataset_digest" and cell.get("dataset_digest"):
        return cell["dataset_digest"]
    return UNKNOWN


def _text(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {x}" for k, x in v.items())
    return str(v)


def _label(cell: dict) -> str:
    return str(cell.get("label", cell["method"]))


@dataclass
class Comparability:
    """What a table's cells have in common, and where they differ."""

    refused: list[str] = field(default_factory=list)   # differences not allowed: the table is not made
    allowed: list[str] = field(default_factory=list)   # differences the caller allowed: named in the table
    unknown: list[str] = field(default_factory=list)   # fields some cells do not record
    shown: list[str] = field(default_factory=list)     # code versions, machines
    interval: str = ""                                 # what the bootstrap resamples

    def lines(self) -> list[str]:
        """The paragraph a table prints under itself."""
        out = [f"Intervals: {self.interval}."] if self.interval else []
        out += [f"Compared although they differ (--allow-mismatch): {x}" for x in self.allowed]
        out += [f"Unknown (not recorded): {x}" for x in self.unknown]
        out += [f"Made with: {x}" for x in self.shown]
        return out

    def require(self, where: str = "") -> Comparability:
        if self.refused:
            more = f" (and {len(self.refused) - 1} more)" if len(self.refused) > 1 else ""
            words = " ".join(sorted({r.split()[0] for r in self.refused}))
            raise DawmError(f"{where + ': ' if where else ''}cells that are not like with like: {self.refused[0]}"
                            f"{more}; compare like with like, or pass --allow-mismatch {words} to show them side "
                            "by side, labelled")
        return self


def _differences(cells: list[dict], name: str, scope: str) -> tuple[str | None, list[str]]:
    """(one line naming the values and the cells that hold each, if two known values differ; the labels whose
    value is unknown)."""
    by: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for c in cells:
        v = value(c, name)
        if v == NONE:
            continue
        (unknown.add(_label(c)) if v == UNKNOWN else by[_text(v)].add(_label(c)))
    line = None
    if len(by) > 1:
        line = (f"{name} differs{scope}: " + "; ".join(f"{v} ({', '.join(sorted(m))})" for v, m in sorted(by.items())))
    return line, sorted(unknown)


def check(cells: list[dict], allow: tuple[str, ...] | list[str] = ()) -> Comparability:
    """Judge the cells of one table (each a run summary; `label` names it in the table, default its method)."""
    bad = [a for a in allow if a not in COMPARED]
    if bad:
        raise DawmError(f"--allow-mismatch {' '.join(bad)}: unknown (expected some of: {', '.join(COMPARED)})")
    out = Comparability()
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for c in cells:
        by_dataset[c["dataset"]].append(c)
    missing: dict[tuple[str, ...], list[str]] = defaultdict(list)  # cells lacking fields -> those fields
    for name in COMPARED:
        groups = ([(f" on {d}", cs) for d, cs in by_dataset.items()] if name in PER_DATASET else [("", cells)])
        lacking: set[str] = set()
        for scope, group in groups:
            line, unknown = _differences(group, name, scope)
            lacking.update(unknown)
            if line:
                (out.allowed if name in allow else out.refused).append(line)
        if lacking:
            missing[tuple(sorted(lacking))].append(name)
    out.unknown = [f"{', '.join(names)} for {', '.join(labels)}" for labels, names in missing.items()]
    for name in ("code", "cpu", "torch"):
        counts = Counter(_made_with(value(c, name)) for c in cells)
        out.shown.append(f"{name} " + "; ".join(f"{v} ({n} cells)" for v, n in sorted(counts.items())))
    out.interval = interval_kind(cells)
    return out


def _made_with(v) -> str:
    if isinstance(v, dict) and "sha" in v:  # code version
        return UNKNOWN if not v.get("sha") else v["sha"][:7] + ("+dirty" if v.get("dirty") else "")
    return _text(v)


def interval_kind(cells: list[dict]) -> str:
    """What a seed's score varies with in this table: the agent's seed only (one world model per dataset and
    method), or the world model too (each seed its own world model)."""
    keys: dict[tuple, set] = defaultdict(set)
    seeds: dict[tuple, set] = defaultdict(set)
    for c in cells:
        if has_world_model(c):
            keys[c["dataset"], _label(c)].add(_text(value(c, "world_model_key")))
            seeds[c["dataset"], _label(c)].add(c.get("seed"))
    if not keys:
        return "95% stratified bootstrap over agent seeds"
    if any(UNKNOWN in k for k in keys.values()):
        return ("95% stratified bootstrap over seeds; whether the seeds share one world model is unknown for some "
                "cells")
    kinds = {"shared" if len(k) == 1 else "own" if len(k) == len(seeds[g]) else "mixed" for g, k in keys.items()}
    if kinds == {"own"}:
        return "95% stratified bootstrap over (world model, agent seed) pairs: each seed has its own world model"
    if kinds == {"shared"}:
        return ("95% stratified bootstrap over agent seeds; one world model per dataset and method, so the "
                "variation of training the world model again is not in the intervals")
    return ("95% stratified bootstrap over seeds; some methods share one world model across seeds, others do not "
            "(their intervals are of different kinds)")
