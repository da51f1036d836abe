"""The images a split may draw from: per subset and label, after cross-split de-duplication."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from evaluator.benchmark.sources import SourceFile

ImageKey = tuple[str, int]  # (flag, index in the MedMNIST split)


def to_rgb(array: np.ndarray) -> np.ndarray:
    """MedMNIST pixels as (28, 28, 3) uint8: grey is repeated over three channels."""
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    return array


def pixel_digest(array: np.ndarray) -> bytes:
    return hashlib.sha256(to_rgb(array).tobytes()).digest()


@dataclass
class SplitPool:
    """Images of one MedMNIST split (train, val or test), grouped by subset and label."""

    sources: dict[str, SourceFile]
    medmnist_split: str
    by_label: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    _pil: dict[ImageKey, Image.Image] = field(default_factory=dict)
    _png: dict[ImageKey, bytes] = field(default_factory=dict)
    _keys: dict[int, ImageKey] = field(default_factory=dict)

    @property
    def flags(self) -> list[str]:
        return sorted(self.by_label)

    def labels_with(self, flag: str, at_least: int) -> list[int]:
        """Labels of `flag` that have at least `at_least` images here."""
        return [lab for lab, idx in sorted(self.by_label[flag].items()) if len(idx) >= at_least]

    def image_count(self) -> int:
        return sum(len(v) for labels in self.by_label.values() for v in labels.values())

    def pil(self, key: ImageKey) -> Image.Image:
        if key not in self._pil:
            flag, index = key
            array = self.sources[flag].images[self.medmnist_split][index]
            image = Image.fromarray(to_rgb(array), mode="RGB")
            self._pil[key] = image
            self._keys[id(image)] = key
        return self._pil[key]

    def key_of(self, image: Image.Image) -> ImageKey:
        """The (flag, index) of an image this pool handed out."""
        return self._keys[id(image)]

    def png(self, key: ImageKey) -> bytes:
        """RGB PNG bytes; PIL writes no timestamp, so the bytes are reproducible."""
        if key not in self._png:
            buffer = io.BytesIO()
            self.pil(key).save(buffer, format="PNG", optimize=False, compress_level=6)
            self._png[key] = buffer.getvalue()
        return self._png[key]


def build_pools(
    sources: dict[str, SourceFile], order: tuple[tuple[str, str], ...]
) -> tuple[dict[str, SplitPool], dict[str, int]]:
    """One pool per benchmark split. `order` pairs (benchmark split, MedMNIST split) by priority:
    an image whose pixels already appeared earlier in `order` (or earlier in the same split) is
    dropped, so no image is in two splits. Returns the pools and the drop counts per split."""
    seen: set[bytes] = set()
    pools: dict[str, SplitPool] = {}
    dropped: dict[str, int] = {}
    for split, medmnist_split in order:
        pool = SplitPool(sources, medmnist_split)
        dropped[split] = 0
        for flag in sorted(sources):
            images = sources[flag].images[medmnist_split]
            labels = sources[flag].labels[medmnist_split]
            groups: dict[int, list[int]] = {}
            for index in range(len(images)):
                digest = pixel_digest(images[index])
                if digest in seen:
                    dropped[split] += 1
                    continue
                seen.add(digest)
                groups.setdefault(int(labels[index]), []).append(index)
            pool.by_label[flag] = groups
        pools[split] = pool
    return pools, dropped
