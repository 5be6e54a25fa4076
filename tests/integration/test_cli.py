# SPDX-License-Identifier: BSD-2-Clause
"""The command line of both binaries (SPEC §1)."""
from conftest import BACKUP_BIN, LIMEN_BIN, run_cmd


def test_limen_prints_its_version():
    r = run_cmd([LIMEN_BIN, "--version"])
    assert r.returncode == 0
    assert r.stdout.startswith("limen ")


def test_limen_backup_prints_its_version():
    r = run_cmd([BACKUP_BIN, "--version"])
    assert r.returncode == 0
    assert r.stdout.startswith("limen-backup ")


def test_unknown_option_is_a_user_error():
    r = run_cmd([LIMEN_BIN, "--frobnicate"])
    assert r.returncode == 1
    assert "unknown option" in r.stderr
