"""Validation asks an injected key parser what a key file holds and runs no gpg of its own:
here a pure fake answers, and starting any gpg process fails the test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from release import runner
from release.config.check import load_checked
from release.config.loader import ConfigRepo
from release.config.rules import ParsedKey
from release.config.source import open_source

ROOT = Path(__file__).resolve().parents[2]
ARMORED = (
    b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
    b"not really a key\n"
    b"-----END PGP PUBLIC KEY BLOCK-----\n"
)
TRUSTED = "A" * 40
OTHER = "B" * 40


@dataclass(frozen=True)
class FakeKey:
    fingerprint: str
    secret: bool = False
    is_rsa: bool = True


class FakeParser:
    """Answers with fixed keys and records the bytes it was asked about."""

    def __init__(self, *keys: FakeKey) -> None:
        self.keys = keys
        self.asked: list[bytes] = []

    def __call__(self, data: bytes) -> Sequence[ParsedKey]:
        self.asked.append(data)
        return list(self.keys)


@pytest.fixture(autouse=True)
def no_gpg(monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen

    def popen(args: Any, *rest: Any, **kwargs: Any) -> Any:
        argv = [args] if isinstance(args, str | bytes) else list(args)
        assert "gpg" not in Path(str(argv[0])).name, f"validation started {argv}"
        return real_popen(args, *rest, **kwargs)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"validation ran a tool: {args}")

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(runner, "run", refuse)


def config_with_key(tmp_path: Path) -> Path:
    """The shipped config (outside git), el7-stable signed by key `rel` in keys/rel.asc."""
    repo = tmp_path / "config"
    for folder in ("images", "channels", "targets"):
        shutil.copytree(ROOT / folder, repo / folder)
    (repo / "keys").mkdir()
    (repo / "keys/rel.asc").write_bytes(ARMORED)
    (repo / "keys/trust.yaml").write_text(
        f"keys:\n  rel:\n    file: rel.asc\n    fingerprint: {TRUSTED}\n"
    )
    stable = repo / "channels/el7-stable.yaml"
    signed = stable.read_text().replace("targets: [local]", "targets: [local]\nkeys: [rel]")
    stable.write_text(signed)
    return repo


def validate(repo: Path, parser: FakeParser) -> ConfigRepo:
    with open_source(str(repo)) as source:
        return load_checked(source, parser)


def test_a_key_the_parser_vouches_for_validates(tmp_path: Path) -> None:
    parser = FakeParser(FakeKey(TRUSTED))
    config = validate(config_with_key(tmp_path), parser)
    assert config.problems == []
    assert config.warnings == []
    assert parser.asked == [ARMORED]


def test_the_parser_answer_decides_the_fingerprint_and_rsa_checks(tmp_path: Path) -> None:
    config = validate(config_with_key(tmp_path), FakeParser(FakeKey(OTHER, is_rsa=False)))
    assert [(p.file, p.field, p.message) for p in config.problems] == [
        (
            "keys/trust.yaml",
            "keys.rel.fingerprint",
            f"fingerprint {TRUSTED} is not the key in keys/rel.asc (it holds {OTHER})",
        )
    ]
    assert [(w.file, w.message) for w in config.warnings] == [
        ("keys/rel.asc", "is not an RSA key: EL6/EL7 clients (gpg 2.0) cannot verify with it")
    ]


@pytest.mark.parametrize("keys", [(), (FakeKey(TRUSTED, secret=True),)])
def test_no_key_or_a_secret_one_is_not_a_public_key(
    tmp_path: Path, keys: tuple[FakeKey, ...]
) -> None:
    config = validate(config_with_key(tmp_path), FakeParser(*keys))
    assert [(p.file, p.message) for p in config.problems] == [
        ("keys/rel.asc", "is not an ASCII-armored OpenPGP public key")
    ]


def test_bytes_that_are_not_armored_never_reach_the_parser(tmp_path: Path) -> None:
    repo = config_with_key(tmp_path)
    (repo / "keys/rel.asc").write_bytes(b"binary junk")
    parser = FakeParser(FakeKey(TRUSTED))
    config = validate(repo, parser)
    assert parser.asked == []
    assert [p.message for p in config.problems] == ["is not an ASCII-armored OpenPGP public key"]


def test_the_guard_would_catch_gpg() -> None:
    with pytest.raises(AssertionError, match="validation started"):
        subprocess.run(["gpg", "--version"], check=False)
