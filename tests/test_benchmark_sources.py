"""MedMNIST files: a missing file explains where to get it; downloading fails clearly offline."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

import numpy as np
import pytest

from evaluator.benchmark import sources
from evaluator.benchmark.builder import build_benchmark
from evaluator.benchmark.sources import MedMNISTSourceError, read_npz


def test_missing_file_names_it_the_folder_and_where_to_get_it(medmnist_npz_root, tmp_path):
    root = tmp_path / "partial"
    shutil.copytree(medmnist_npz_root, root)
    (root / "retinamnist.npz").unlink()
    with pytest.raises(MedMNISTSourceError) as info:
        build_benchmark(root, tmp_path / "out", scale="small", progress=False)
    message = str(info.value)
    assert "retinamnist.npz" in message and str(root) in message
    assert "https://medmnist.com" in message and "10519652" in message
    assert not (tmp_path / "out" / "manifest.json").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_offline_fails_clearly(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/{{flag}}.npz"
    monkeypatch.setattr(sources, "ZENODO_URL", url)
    with pytest.raises(MedMNISTSourceError) as info:
        read_npz("breastmnist", tmp_path, download=True)
    message = str(info.value)
    assert "could not download breastmnist.npz" in message and "offline" in message
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def served_folder(tmp_path):
    """A local HTTP server over tmp_path/served, standing in for Zenodo."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}/{{flag}}.npz"
    server.shutdown()
    server.server_close()


def test_download_checks_medmnist_md5(medmnist_npz_root, served_folder, tmp_path, monkeypatch):
    folder, url = served_folder
    shutil.copy(medmnist_npz_root / "breastmnist.npz", folder / "breastmnist.npz")
    monkeypatch.setattr(sources, "ZENODO_URL", url)
    with pytest.raises(MedMNISTSourceError, match="has MD5 .* but MedMNIST's is"):
        read_npz("breastmnist", tmp_path / "root", download=True)
    assert not (tmp_path / "root" / "breastmnist.npz").exists()

    served_md5 = hashlib.md5((folder / "breastmnist.npz").read_bytes()).hexdigest()
    info = sources.subset("breastmnist")
    monkeypatch.setattr(
        sources, "subset", lambda flag: type(info)(**{**vars(info), "md5": served_md5})
    )
    loaded = read_npz("breastmnist", tmp_path / "root", download=True)
    assert loaded.path == tmp_path / "root" / "breastmnist.npz"
    assert len(loaded.labels["test"]) == len(loaded.images["test"])


def test_a_file_with_wrong_keys_is_refused(tmp_path):
    np.savez(tmp_path / "bloodmnist.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(MedMNISTSourceError, match="not a MedMNIST .npz"):
        read_npz("bloodmnist", tmp_path)


def test_out_of_range_labels_are_refused(medmnist_npz_root, tmp_path):
    with np.load(medmnist_npz_root / "breastmnist.npz") as npz:
        arrays = dict(npz)
    arrays["val_labels"][0, 0] = 7
    np.savez(tmp_path / "breastmnist.npz", **arrays)
    with pytest.raises(MedMNISTSourceError, match="val_labels holds 7"):
        read_npz("breastmnist", tmp_path)


def test_unknown_subset_lists_the_known_ones(medmnist_npz_root, tmp_path):
    with pytest.raises(KeyError, match="known subsets are .*pathmnist"):
        build_benchmark(medmnist_npz_root, tmp_path / "o", flags=["nosuchmnist"], progress=False)
