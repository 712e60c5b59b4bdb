"""The headline command checks its arguments before any attack runs (issue 27, item 5): a typo in
``--only`` names the valid attacks, a ``--log`` in a missing or read-only folder and ``--threads 0``
are refused at once, with no evaluation run and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tradeoff.stages import headline


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "w.safetensors").write_bytes(b"x")
    (tmp_path / "d.npz").write_bytes(b"x")

    def no_attack(*args: object, **kwargs: object) -> None:
        raise AssertionError("an evaluation ran despite bad arguments")

    monkeypatch.setattr(headline, "evaluate_headline", no_attack)
    return tmp_path


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        headline.main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--only", "pgdd"], "--only: 'pgdd' is not an attack of the linf protocol; valid: clean, pgd, autoattack"),
    (["--only", "clean", "AutoAttack"], "'AutoAttack' is not an attack"),
    (["--threads", "0"], "--threads: 0 is not an integer >= 1"),
    (["--threads", "-2"], "--threads: -2 is not an integer >= 1"),
])
def test_bad_arguments_are_refused_before_any_attack(files: Path, extra: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(files / "w.safetensors"), str(files / "o.json"), "--log", str(files / "log.jsonl"),
            "--data", str(files / "d.npz"), *extra]
    assert message in _refused(argv, capsys)
    assert not (files / "log.jsonl").exists() and not (files / "o.json").exists()


def test_a_log_in_a_missing_or_read_only_folder_is_refused(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [str(files / "w.safetensors"), str(files / "o.json"), "--data", str(files / "d.npz")]
    err = _refused([*base, "--log", str(files / "nosuch" / "log.jsonl")], capsys)
    assert f"--log: the folder {files / 'nosuch'} of {files / 'nosuch' / 'log.jsonl'} does not exist" in err
    if os.geteuid() != 0:  # root writes anywhere
        ro = files / "ro"
        ro.mkdir(mode=0o555)
        assert "is not writable" in _refused([*base, "--log", str(ro / "log.jsonl")], capsys)
    err = _refused([str(files / "none.safetensors"), str(files / "o.json"), "--log", str(files / "l.jsonl")], capsys)
    assert "weights: " in err and "none.safetensors is not a file" in err
