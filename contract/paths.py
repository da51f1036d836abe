"""Where the project keeps what it builds and stores. One root, `MME_HOME` (default ./data)."""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST = "manifest.json"  # a benchmark folder's manifest: splits, their sha256, the card


def home() -> Path:
    """Root of everything built or stored at run time (gitignored)."""
    return Path(os.environ.get("MME_HOME", "data")).resolve()


def medmnist_root() -> Path:
    """MedMNIST .npz folder for the benchmark builder (`MME_MEDMNIST_ROOT`)."""
    return Path(os.environ.get("MME_MEDMNIST_ROOT", "../shared/data/medmnist")).resolve()


def benchmark_dir() -> Path:
    """The built MultiMedEdit-mini (train/public/hidden splits, manifest, card)."""
    return home() / "benchmark" / "multimededit-mini"


def zoo_dir(arch: str) -> Path:
    """A built zoo model, e.g. zoo_dir("llava-onevision")."""
    return home() / "models" / f"mme-tiny-{arch}"


def store_url() -> str:
    """SQLAlchemy URL of the queue and results store (`MME_STORE_URL`)."""
    return os.environ.get("MME_STORE_URL", f"sqlite:///{home() / 'store.db'}")


def downloads_dir() -> Path:
    """The only folder the app serves files from (CSV downloads)."""
    return home() / "downloads"


def gallery_dir() -> Path:
    """Result JSON files of public-split runs for the case gallery (the first start's baselines
    on the public split); kept apart from the store, so never on the board, its CSVs or API."""
    return home() / "gallery"
