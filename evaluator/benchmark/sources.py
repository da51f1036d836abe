"""Read MedMNIST .npz files (official layout), and optionally fetch them from Zenodo."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evaluator.benchmark.vocab import subset

ZENODO_RECORD = "10519652"
ZENODO_URL = "https://zenodo.org/records/10519652/files/{flag}.npz?download=1"
MEDMNIST_SPLITS = ("train", "val", "test")


class MedMNISTSourceError(RuntimeError):
    """A MedMNIST file is missing, unreadable, or could not be fetched."""


@dataclass(frozen=True)
class SourceFile:
    """One subset's images and labels for the three MedMNIST splits."""

    flag: str
    path: Path
    sha256: str
    images: dict[str, np.ndarray]  # split -> (N, 28, 28) or (N, 28, 28, 3) uint8
    labels: dict[str, np.ndarray]  # split -> (N,) int


def _where_to_get(flag: str) -> str:
    return (
        f"get {flag}.npz (28x28) from https://medmnist.com or Zenodo record {ZENODO_RECORD} "
        f"({ZENODO_URL.format(flag=flag)}), or pass --download"
    )


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_npz(flag: str, root: Path, *, timeout: float = 30.0) -> Path:
    """Fetch `<flag>.npz` from MedMNIST's Zenodo record and check MedMNIST's MD5."""
    expected = subset(flag).md5
    if expected is None:
        raise MedMNISTSourceError(
            f"cannot download {flag}.npz: no official MD5 is recorded for it in "
            f"evaluator/benchmark/data/medmnist_subsets.json; {_where_to_get(flag)}"
        )
    url = ZENODO_URL.format(flag=flag)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{flag}.npz"
    partial = root / f"{flag}.npz.part"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as f:
            while block := response.read(1 << 20):
                f.write(block)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise MedMNISTSourceError(
            f"could not download {flag}.npz from {url}: {exc}. The machine looks offline or "
            f"the URL is unreachable; copy the file into {root} by hand "
            f"(https://medmnist.com, Zenodo record {ZENODO_RECORD})"
        ) from exc
    actual = file_digest(partial, "md5")
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise MedMNISTSourceError(
            f"downloaded {flag}.npz from {url} has MD5 {actual}, but MedMNIST's is {expected}; "
            "the file was not kept. Retry, or fetch it by hand from https://medmnist.com"
        )
    partial.replace(target)
    return target


def read_npz(flag: str, root: Path, *, download: bool = False) -> SourceFile:
    """Load `<root>/<flag>.npz`; a missing file is fetched only when `download` is set."""
    info = subset(flag)
    if info.multi_label:
        raise MedMNISTSourceError(
            f"{flag} is multi-label; the builder only handles single-label subsets. "
            "Leave it out of the flags"
        )
    path = root / f"{flag}.npz"
    if not path.is_file():
        if not download:
            raise MedMNISTSourceError(
                f"missing MedMNIST file {path.name} (looked in {root.resolve()}): "
                f"{_where_to_get(flag)}"
            )
        path = download_npz(flag, root)
    try:
        with np.load(path) as npz:
            images = {s: np.asarray(npz[f"{s}_images"], dtype=np.uint8) for s in MEDMNIST_SPLITS}
            raw = {s: np.asarray(npz[f"{s}_labels"]) for s in MEDMNIST_SPLITS}
    except (KeyError, ValueError, OSError) as exc:
        raise MedMNISTSourceError(
            f"{path} is not a MedMNIST .npz (needs train/val/test _images and _labels): {exc}"
        ) from exc
    labels = {}
    for s in MEDMNIST_SPLITS:
        lab = raw[s].reshape(len(raw[s]), -1)
        if lab.shape[1] != 1 or len(lab) != len(images[s]):
            raise MedMNISTSourceError(
                f"{path}: {s}_labels has shape {raw[s].shape} for {len(images[s])} images; "
                "expected one label per image"
            )
        lab = lab[:, 0].astype(np.int64)
        if len(lab) and (lab.min() < 0 or lab.max() >= len(info.labels)):
            raise MedMNISTSourceError(
                f"{path}: {s}_labels holds {int(lab.max())}, outside {flag}'s "
                f"{len(info.labels)} labels"
            )
        labels[s] = lab
    return SourceFile(flag, path, file_digest(path, "sha256"), images, labels)
