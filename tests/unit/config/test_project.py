"""The drift settings of mlops.toml: defaults for what older configs lack, one clear error for the rest."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_FILE, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]


def raw_config(**drift: object) -> dict:
    with open(ROOT / CONFIG_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    raw["drift"] = {**raw["drift"], **drift}
    return raw


def test_given_a_drift_section_without_the_new_settings_when_parsed_then_the_defaults_apply():
    raw = raw_config()
    for name in ("method", "false_alarm_rate", "min_effect_psi", "alarm_after", "reference_sample_rows"):
        raw["drift"].pop(name, None)
    drift = parse_config(raw).drift
    assert (drift.method, drift.alarm_datapoints) == ("adaptive", (1, 1))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"method": "ks"}, "method must be adaptive or psi"),
        ({"false_alarm_rate": 0.5}, "false_alarm_rate"),
        ({"alarm_after": "3 of 2"}, "alarm_after must read 'M of N'"),
        ({"alarm_after": "two of three"}, "alarm_after must read 'M of N'"),
        ({"drifted_share_threshold": 0}, "drifted_share_threshold"),
        ({"psi_treshold": 0.1}, "unknown setting"),
    ],
)
def test_given_an_invalid_drift_setting_when_parsed_then_one_clear_error_names_it(setting, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw_config(**setting))


def test_given_alarm_after_two_of_three_when_parsed_then_the_alarm_needs_two_datapoints_of_three():
    assert parse_config(raw_config(alarm_after="2 of 3")).drift.alarm_datapoints == (2, 3)


def with_schedule(schedule: str) -> dict:
    raw = raw_config()
    raw["retraining"] = {**raw["retraining"], "schedule": schedule}
    return raw


@pytest.mark.parametrize(
    "schedule", ["rate(7 days)", "rate(1 day)", "rate(1 minute)", "rate(12 hours)", "cron(0 3 ? * MON *)"]
)
def test_given_a_schedule_eventbridge_accepts_when_parsed_then_it_is_kept(schedule):
    assert parse_config(with_schedule(schedule)).retraining.schedule == schedule


@pytest.mark.parametrize(
    "schedule",
    ["rate(1 days)", "rate(2 day)", "rate(0 days)", "rate(7 weeks)", "cron(0 3 * * MON *)", "cron(0 3 ? *)", "weekly"],
)
def test_given_a_schedule_eventbridge_would_refuse_when_parsed_then_an_error_names_it_and_the_forms(schedule):
    with pytest.raises(ConfigError, match=r"retraining\.schedule .*rate\(7 days\)"):
        parse_config(with_schedule(schedule))


def test_given_no_schedule_when_parsed_then_retraining_runs_on_alarms_only():
    assert parse_config(raw_config()).retraining.schedule is None


def with_promotion(**promotion: object) -> dict:
    raw = raw_config()
    raw["promotion"] = {**raw["promotion"], **promotion}
    return raw


def test_given_no_approval_setting_when_parsed_then_candidates_are_promoted_automatically_with_a_week_to_approve():
    promotion = parse_config(raw_config()).promotion
    assert (promotion.approval, promotion.pending_ttl_days) == ("auto", 7)


def test_given_manual_approval_and_a_ttl_when_parsed_then_both_are_kept():
    promotion = parse_config(with_promotion(approval="manual", pending_ttl_days=0.5)).promotion
    assert (promotion.approval, promotion.pending_ttl_days) == ("manual", 0.5)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"approval": "manually"}, r'approval must be "auto" or "manual", not \'manually\''),
        ({"pending_ttl_days": 0}, "pending_ttl_days must be a number of days above 0"),
        ({"pending_ttl_days": "7"}, "pending_ttl_days must be a number of days above 0"),
        ({"pending_ttl_days": True}, "pending_ttl_days must be a number of days above 0"),
    ],
)
def test_given_an_invalid_approval_setting_when_parsed_then_one_clear_error_names_it(setting, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_promotion(**setting))


@pytest.mark.parametrize(
    ("section", "setting", "message"),
    [
        ("training", {"max_feedback_share": 1.5}, "max_feedback_share must be a number between 0 and 1"),
        ("training", {"max_file_share": "all"}, "max_file_share must be a number between 0 and 1"),
        ("promotion", {"reference_tolerance": -0.1}, "reference_tolerance must be at least 0"),
        ("promotion", {"reference_tolerance": True}, "reference_tolerance must be a number"),
    ],
)
def test_given_a_bad_bound_on_uploads_when_parsed_then_the_error_names_it(section, setting, message):
    raw = raw_config()
    raw[section] = {**raw[section], **setting}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_given_no_upload_bounds_when_parsed_then_feedback_is_half_of_a_run_at_most():
    config = parse_config(raw_config())
    assert (config.training.max_feedback_share, config.training.max_file_share) == (0.5, 0.5)
    assert (config.promotion.reference_floor, config.promotion.reference_tolerance) == (None, None)


def with_retraining(**retraining: object) -> dict:
    raw = raw_config()
    raw["retraining"] = {**raw["retraining"], **retraining}
    return raw


def test_given_a_lock_shorter_than_the_run_time_limit_when_parsed_then_the_error_names_both_settings_and_the_fix():
    with pytest.raises(ConfigError) as refused:
        parse_config(with_retraining(lock_ttl_seconds=1800, max_runtime_seconds=3600))

    message = str(refused.value)
    assert "lock_ttl_seconds = 1800" in message and "max_runtime_seconds = 3600" in message
    assert "Raise lock_ttl_seconds to 4200, or lower max_runtime_seconds to 1200" in message


def test_given_the_lock_ttl_the_old_configs_had_and_the_default_run_time_limit_when_parsed_then_refused():
    raw = with_retraining(lock_ttl_seconds=1800)
    raw["retraining"].pop("max_runtime_seconds", None)
    with pytest.raises(ConfigError, match="max_runtime_seconds = 3600 plus 600 s"):
        parse_config(raw)


def test_given_a_lock_that_outlives_the_run_time_limit_by_the_margin_when_parsed_then_both_are_kept():
    retraining = parse_config(with_retraining(lock_ttl_seconds=1800, max_runtime_seconds=1200)).retraining
    assert (retraining.lock_ttl_seconds, retraining.max_runtime_seconds) == (1800, 1200)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"max_runtime_seconds": 0}, "max_runtime_seconds must be a whole number of seconds from 1 to 2419200"),
        ({"max_runtime_seconds": 29 * 86400}, "max_runtime_seconds must be a whole number"),
        ({"max_runtime_seconds": "3600"}, "max_runtime_seconds must be a whole number"),
        ({"max_runtime_seconds": True}, "max_runtime_seconds must be a whole number"),
        ({"lock_ttl_seconds": 4200.5}, "lock_ttl_seconds must be a whole number of seconds above 0"),
    ],
)
def test_given_an_invalid_run_time_limit_or_lock_ttl_when_parsed_then_one_clear_error_names_it(setting, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_retraining(**setting))
