"""The data commands as a user types them."""

from __future__ import annotations

import json

import pytest

from sleepbench.benchmark.cli import main, parse_ints


def test_parse_ints():
    assert parse_ints("0-3,7") == [0, 1, 2, 3, 7]


def test_info_json_on_the_real_folder(real_dir, tmp_path, capsys):
    assert main(["data", "info", "--data-dir", str(real_dir), "--json",
                 "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [{"recording": "SC4001E0", "subject": 0, "night": 1, "n_epochs": 841,
                                "counts": {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}}]
    assert "SC4002E0: incomplete, missing SC4002E0-PSG.edf" in err


def test_surrogate_then_info_table(tmp_path, capsys):
    out_dir = tmp_path / "s"
    assert main(["data", "surrogate", "--subjects", "2", "--nights", "1", "--hours", "1",
                 "--out", str(out_dir)]) == 0
    assert main(["data", "info", "--data-dir", str(out_dir), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "surrogate" in out and "SC4001E0" in out and "SC4011E0" in out and "total" in out


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "info", "--data-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "does not exist" in err[0]


def test_info_on_a_folder_without_recordings_fails(tmp_path, capsys):
    assert main(["data", "info", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path)]) == 2
    assert "no EDF files" in capsys.readouterr().err


def test_a_user_error_is_one_line_and_exit_2_anything_else_keeps_its_traceback(monkeypatch, capsys):
    import sleepbench.benchmark.cli as cli
    from sleepbench.errors import UserError

    def wrong_input(args):
        raise UserError("suite.yaml: no such model 'x'")

    def bug(args):
        raise ValueError("an internal invariant broke")  # not a UserError: a bug

    monkeypatch.setattr(cli, "cmd_models", wrong_input)
    assert cli.main(["models"]) == 2
    assert capsys.readouterr().err == "sleepbench: error: suite.yaml: no such model 'x'\n"
    monkeypatch.setattr(cli, "cmd_models", bug)
    with pytest.raises(ValueError, match="internal invariant"):
        cli.main(["models"])


def test_shared_options_are_defined_once():
    """Every command that takes --results (or --cache-dir, --models, ...) gets the same definition."""
    import argparse

    import sleepbench.benchmark.cli as cli

    seen: dict[str, set] = {}

    def walk(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
            elif action.option_strings and action.option_strings[-1] in ("--results", "--cache-dir"):
                seen.setdefault(action.option_strings[-1], set()).add((action.type, action.help))

    walk(cli.build_parser())
    assert set(seen) == {"--results", "--cache-dir"}
    assert all(len(v) == 1 for v in seen.values()), seen
