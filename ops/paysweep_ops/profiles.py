"""Providers' profiles for the order writer, from the providers' own function folders.

The layer knows no provider: each function folder holds its provider's order contract as
`PROFILE` in `functions/<provider>/<name>_profile.py` (data only, the layer's `ProviderProfile`
type, no adapter import). `paysweep register` loads the one of the order's provider, so the
writer checks the provider's own rules too (CONTRACT.md section 2): from a file given with
`--profile`, else found in `functions/*/` of the current directory or of the checkout this
package is installed from.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from paysweep.domain.providers import ProviderProfile

PATTERN = "*_profile.py"


class ProfileUnusable(ValueError):
    """A profile file that cannot be loaded or holds no `PROFILE`."""


def function_folders() -> list[Path]:
    """Where the functions are: the current directory's `functions/`, then the checkout's."""
    candidates = [Path.cwd() / "functions", Path(__file__).resolve().parents[2] / "functions"]
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in {f.resolve() for f in found}:
            found.append(folder)
    return found


def load_profile(path: Path) -> ProviderProfile:
    """The `PROFILE` of one profile module, loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"paysweep_profile_{path.parent.name}_{path.stem}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ProfileUnusable(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - a broken profile file is the operator's to fix
        raise ProfileUnusable(f"{path}: cannot be loaded: {error}") from None
    profile = getattr(module, "PROFILE", None)
    if not isinstance(profile, ProviderProfile):
        raise ProfileUnusable(f"{path}: has no PROFILE (a paysweep.domain.providers.ProviderProfile)")
    return profile


def profile_in(folder: Path) -> ProviderProfile:
    """The profile of one function folder (exactly one `*_profile.py`)."""
    files = sorted(folder.glob(PATTERN))
    if len(files) != 1:
        raise ProfileUnusable(f"{folder}: expected one {PATTERN}, found {[f.name for f in files]}")
    return load_profile(files[0])


def discover(folders: Iterable[Path] | None = None) -> dict[str, ProviderProfile]:
    """Every provider's profile found in the function folders, by provider id (first found wins)."""
    profiles: dict[str, ProviderProfile] = {}
    for root in function_folders() if folders is None else folders:
        for path in sorted(root.glob(f"*/{PATTERN}")):
            profile = load_profile(path)
            profiles.setdefault(profile.provider_id, profile)
    return profiles
