"""Typed configs: dataclasses, YAML presets, command-line overrides (parsed by tyro).

Resolution order, later wins: dataclass defaults -> preset (configs/<command>/<name>.yaml or a
path) -> --config FILE -> command-line flags. The resolved config is written into each run dir.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from dawm.utils.errors import DawmError

C = TypeVar("C")

# Presets ship inside the package (src/dawm/configs); the repository's top-level configs/ links here.
PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"


def update_config(cfg: C, overrides: dict, source: str = "overrides") -> C:
    """Return a copy of dataclass `cfg` with `overrides` applied (nested dicts for nested configs)."""
    if not isinstance(overrides, dict):
        raise DawmError(f"{source}: expected a mapping of options, got {type(overrides).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for key, value in overrides.items():
        key = str(key).replace("-", "_")
        if key not in fields:
            new = getattr(type(cfg), "RENAMED", {}).get(key)
            if new:
                raise DawmError(f"{source}: option '{key}' was renamed '{new}'")
            raise DawmError(f"{source}: unknown option '{key}' (expected one of: {', '.join(fields)})")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = update_config(current, value, f"{source}: {key}")
        else:
            changes[key] = _coerce(value, hints.get(key), f"{source}: {key}")
    return dataclasses.replace(cfg, **changes)


def renamed_option(cls: type, dotted: str) -> str | None:
    """The new name of option `dotted` (e.g. 'world_model.horizon') if a config on its path renamed it.

    A config class declares its renames once, as `RENAMED: ClassVar[dict] = {old: new}`; flags and
    config files with the old name then fail with a line naming the new one."""
    parts = dotted.replace("-", "_").split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            return None
        if part not in {f.name for f in dataclasses.fields(cls)}:
            new = getattr(cls, "RENAMED", {}).get(part)
            return ".".join(parts[:i] + [new] + parts[i + 1:]) if new else None
        cls = typing.get_type_hints(cls).get(part)
    return None


def check_choices(cfg: Any) -> None:
    """Every `Literal` field of dataclass `cfg` holds one of its values (tyro checks flags; this checks
    configs built in code or read from files). Raises one line naming the option."""
    for name, hint in typing.get_type_hints(type(cfg)).items():
        allowed = _choices(hint)
        value = getattr(cfg, name, None)
        if allowed is not None and value not in allowed:
            raise DawmError(f"--{name.replace('_', '-')}: {value!r} (expected one of: "
                            f"{', '.join(str(a) for a in allowed)})")


def _choices(hint: Any) -> tuple | None:
    """The allowed values of a Literal hint (None included for `Literal[...] | None`), else None."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    args = typing.get_args(hint)
    literals = [a for a in args if typing.get_origin(a) is Literal]
    if literals and type(None) in args:
        return (*typing.get_args(literals[0]), None)
    return None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """YAML gives lists for tuples and ints for floats; convert, and reject wrong kinds clearly."""
    allowed = _choices(hint)
    if allowed is not None and value not in allowed:
        raise DawmError(f"{where}: got {value!r} (expected one of: {', '.join(str(a) for a in allowed)})")
    args = typing.get_args(hint)
    if type(None) in args and allowed is None:  # `X | None`: None is the default marker, else check as X
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise DawmError(f"{where}: got {value!r} (expected {hint.__name__})")
    return value


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DawmError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise DawmError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    return data or {}


def preset_path(command: str, name: str) -> Path:
    """A preset name (looked up under configs/<command>/) or a path to a YAML file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = PRESET_DIR / command / f"{name}.yaml"
    if candidate.exists():
        return candidate
    available = sorted(x.stem for x in (PRESET_DIR / command).glob("*.yaml"))
    raise DawmError(f"preset '{name}' for '{command}' not found (expected one of: {', '.join(available) or 'none'})")


def load_config(cls: type[C], command: str | None = None, preset: str | None = None, config_file: str | None = None,
                overrides: dict | None = None) -> C:
    """Build a config of type `cls` from defaults, an optional preset, file and overrides."""
    cfg = cls()
    if preset:
        path = preset_path(command or "", preset)
        cfg = update_config(cfg, load_yaml(path), str(path))
    if config_file:
        cfg = update_config(cfg, load_yaml(config_file), str(config_file))
    if overrides:
        cfg = update_config(cfg, overrides)
    return cfg


def save_config(cfg: Any, path: str | Path) -> None:
    from dawm.utils.checkpoint import atomic_write

    text = yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
