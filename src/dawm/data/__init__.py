"""Offline datasets: readers (D4RL HDF5, Minari), the project's file format, and training views."""

from dawm.data.d4rl import read_d4rl, write_dataset
from dawm.data.dataset import Dataset, episode_subset
from dawm.data.minari_io import load_minari
from dawm.data.normalization import Normalizer, iql_reward_scale
from dawm.data.registry import dataset_info, load_dataset
from dawm.data.segments import Segments, make_segments, returns_to_go
from dawm.data.transitions import Transitions
from dawm.data.validate import validate_dataset

__all__ = [
    "Dataset",
    "episode_subset",
    "load_dataset",
    "dataset_info",
    "read_d4rl",
    "write_dataset",
    "load_minari",
    "validate_dataset",
    "Transitions",
    "Segments",
    "make_segments",
    "returns_to_go",
    "Normalizer",
    "iql_reward_scale",
]
