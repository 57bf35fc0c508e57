"""[online]: off unless enabled, every default documented, each bad value refused with the setting named."""

from __future__ import annotations

import pytest

from mlops_core.config import ConfigError, parse_config
from tests.unit.config.test_defaults import minimal


def test_given_no_online_section_then_no_endpoint_and_the_defaults():
    online = parse_config(minimal()).online
    assert not online.enabled
    assert (online.max_records, online.max_body_bytes, online.monitor_every_minutes) == (100, 256 << 10, 15)
    assert (online.capture_share, online.refresh_seconds, online.window_seconds) == (1.0, 10, 900)
    assert online.retention_days == 30


def test_given_a_lookback_longer_than_the_capture_days_then_captures_are_kept_for_it_and_a_day():
    assert parse_config(minimal(online={"feedback_lookback_hours": 24 * 40 + 1})).online.retention_days == 42


def test_given_settings_then_they_are_read():
    online = parse_config(
        minimal(online={"enabled": True, "id_column": "customer_id", "monitor_every_minutes": 5})
    ).online
    assert (online.enabled, online.id_column, online.window_seconds) == (True, "customer_id", 300)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"monitor_every_minutes": 7}, "must divide a day"),
        ({"monitor_every_minutes": 0}, "monitor_every_minutes must be a whole number above 0"),
        ({"capture_share": 0}, "capture_share must be above 0"),
        ({"max_body_bytes": 6 << 20}, "Lambda's 6 MB request limit"),
        ({"max_records": True}, "max_records must be a whole number"),
        ({"rate_limit": -1}, "rate_limit must be a number above 0"),
        ({"max_5xx_rate": 1.5}, "max_5xx_rate must be above 0 and below 1"),
        ({"id_column": " "}, "id_column must name a field"),
        ({"capture": 1}, "unknown setting"),
    ],
)
def test_given_a_bad_online_setting_then_refused_naming_it(setting, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(minimal(online=setting))


@pytest.mark.parametrize("column", ["age", "survived"])
def test_given_an_id_column_that_is_a_feature_or_the_label_then_refused(column):
    with pytest.raises(ConfigError, match="is a feature or the label"):
        parse_config(minimal(online={"id_column": column}))
