"""`python app.py` takes its defaults from the environment where a Hugging Face Space sets
them (interface, port) and serves only, building and evaluating nothing, under MME_SERVE_ONLY."""

from __future__ import annotations

import pytest

from app import build_parser


def test_local_defaults_listen_on_loopback_and_build(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "MME_SERVE_ONLY"):
        monkeypatch.delenv(name, raising=False)
    args = build_parser().parse_args([])
    expected = ("127.0.0.1", 7860, False, False)
    assert (args.host, args.port, args.no_build, args.no_worker) == expected


def test_a_space_environment_serves_only_on_its_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    monkeypatch.setenv("MME_SERVE_ONLY", "1")
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.no_build, args.no_worker) == ("0.0.0.0", 7861, True, True)
    assert build_parser().parse_args(["--host", "127.0.0.1"]).host == "127.0.0.1"


@pytest.mark.parametrize("value", ["", "0", "no", "false"])
def test_serve_only_is_off_unless_set_to_a_true_value(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MME_SERVE_ONLY", value)
    args = build_parser().parse_args([])
    assert not args.no_build and not args.no_worker
