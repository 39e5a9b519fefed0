"""The gate's policy file: blocking by default for nulls, duplicates and counts; bad actions refused."""

import pytest

from flywheel_lib import gate
from flywheel_lib.checks import check
from flywheel_lib.errors import CheckFailed, ConfigError


def test_nulls_duplicates_and_counts_block_by_default():
    policy = gate.load_policy()
    assert {policy[c] for c in ("key nulls", "key duplicates", "row count vs source")} == {"block"}


def test_a_check_the_policy_does_not_name_blocks():
    with pytest.raises(CheckFailed, match="part_x: something new"):
        gate.enforce([check("part_x", "something new", False, "broken")], policy={})


def test_an_unknown_action_is_refused_naming_the_check(tmp_path):
    conf = tmp_path / "monitor.toml"
    conf.write_text('[gate]\n"key nulls" = "ignore"\n')
    with pytest.raises(ConfigError, match="gate action of 'key nulls' is 'ignore', not block or warn"):
        gate.load_policy(conf)
