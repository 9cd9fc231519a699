//! `business-hours@1`: takes `open` or `closed` by the call's local time in
//! `timezone`, given `weekly` opening intervals and `holidays`.
//!
//! ```
//! use switchyard_sdk::{harness::Harness, prelude::*};
//! // 2026-01-05 is a Monday; 15:00 UTC is 10:00 in New York.
//! let out = Harness::new(switchyard_plugin_business_hours::step)
//!     .config(serde_json::json!({
//!         "timezone": "America/New_York",
//!         "weekly": {"mon": [["09:00", "17:00"]]},
//!     }))
//!     .now_ms(1_767_625_200_000)
//!     .enter();
//! assert_eq!(out.exit.as_deref(), Some("open"));
//! ```

use chrono::{DateTime, Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use serde_json::Value;
use switchyard_sdk::prelude::*;

/// The step function. It needs no state: the answer depends only on the
/// config and `call.now_ms`, so it decides on whatever event it gets.
pub fn step(input: StepInput) -> StepOutput {
    let config = &input.node.config;
    let zone_name = config["timezone"].as_str().unwrap_or_default();
    let Ok(zone) = zone_name.parse::<Tz>() else {
        log(
            Level::Error,
            &format!("business-hours: unknown time zone {zone_name:?}"),
        );
        return StepOutput::exit("error");
    };
    let Some(utc) = DateTime::from_timestamp_millis(input.call.now_ms) else {
        log(
            Level::Error,
            &format!(
                "business-hours: now_ms {} is out of range",
                input.call.now_ms
            ),
        );
        return StepOutput::exit("error");
    };
    let local = utc.with_timezone(&zone);

    let today = local.format("%Y-%m-%d").to_string();
    let holiday = config["holidays"].as_array().is_some_and(|days| {
        days.iter()
            .any(|d| d.as_str().map(str::trim) == Some(today.as_str()))
    });
    if holiday {
        return StepOutput::exit("closed");
    }

    // Minutes are enough: intervals have minute resolution, and truncating
    // the seconds keeps "start included, end excluded" exact.
    let minute = local.hour() * 60 + local.minute();
    let intervals = &config["weekly"][day_key(local.weekday())];
    let open = intervals
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(interval)
        .any(|(start, end)| start <= minute && minute < end);
    StepOutput::exit(if open { "open" } else { "closed" })
}

fn day_key(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// An `["HH:MM", "HH:MM"]` pair as minutes since midnight. A malformed one
/// is skipped with a warning, so one typo closes that interval only.
fn interval(value: &Value) -> Option<(u32, u32)> {
    let pair = value.as_array().filter(|pair| pair.len() == 2);
    let parsed =
        pair.and_then(|pair| Some((minutes(pair[0].as_str()?)?, minutes(pair[1].as_str()?)?)));
    if parsed.is_none() {
        log(
            Level::Warn,
            &format!("business-hours: ignoring malformed interval {value}"),
        );
    }
    parsed
}

/// `"HH:MM"` as minutes since midnight; `"24:00"` is the end of the day.
fn minutes(text: &str) -> Option<u32> {
    let (hours, mins) = text.split_once(':')?;
    let (hours, mins): (u32, u32) = (hours.parse().ok()?, mins.parse().ok()?);
    let valid = (hours < 24 && mins < 60) || (hours == 24 && mins == 0);
    valid.then_some(hours * 60 + mins)
}

switchyard_sdk::export_step!(step);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::json;
    use switchyard_sdk::{guest::take_native_log, harness::Harness};

    /// Milliseconds since the epoch of a UTC date and time.
    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        let naive = NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap();
        Utc.from_utc_datetime(&naive).timestamp_millis()
    }

    fn outcome(config: Value, now_ms: i64) -> String {
        Harness::new(step)
            .config(config)
            .now_ms(now_ms)
            .enter()
            .exit
            .unwrap()
    }

    fn new_york() -> Value {
        json!({
            "timezone": "America/New_York",
            "weekly": {
                "mon": [["09:00", "12:00"], ["13:00", "17:30"]],
                "sat": [["10:00", "24:00"]],
            },
            "holidays": ["2026-01-19"],
        })
    }

    #[test]
    fn a_weekday_inside_and_outside_hours() {
        // Monday 2026-01-12; New York is UTC-5 in January.
        for (hour, minute, expected) in [
            (14, 0, "open"),    // 09:00, start included
            (16, 59, "open"),   // 11:59
            (17, 0, "closed"),  // 12:00, end excluded (lunch)
            (18, 0, "open"),    // 13:00
            (22, 29, "open"),   // 17:29
            (22, 30, "closed"), // 17:30
            (13, 59, "closed"), // 08:59
        ] {
            assert_eq!(
                outcome(new_york(), utc(2026, 1, 12, hour, minute)),
                expected,
                "{hour}:{minute}"
            );
        }
    }

    #[test]
    fn a_day_without_hours_is_closed() {
        // Tuesday 2026-01-13, 12:00 in New York.
        assert_eq!(outcome(new_york(), utc(2026, 1, 13, 17, 0)), "closed");
    }

    #[test]
    fn twenty_four_hundred_runs_to_midnight() {
        // Saturday 2026-01-17 23:59 in New York is Sunday 04:59 UTC.
        assert_eq!(outcome(new_york(), utc(2026, 1, 18, 4, 59)), "open");
        assert_eq!(outcome(new_york(), utc(2026, 1, 18, 5, 0)), "closed");
    }

    #[test]
    fn a_holiday_is_closed_all_day_in_local_time() {
        // Monday 2026-01-19 10:00 in New York: a holiday.
        assert_eq!(outcome(new_york(), utc(2026, 1, 19, 15, 0)), "closed");
        // 2026-01-20 03:00 UTC is still the 19th in New York.
        let mut all_day_monday = new_york();
        all_day_monday["weekly"]["mon"] = json!([["00:00", "24:00"]]);
        assert_eq!(outcome(all_day_monday, utc(2026, 1, 20, 3, 0)), "closed");
    }

    #[test]
    fn los_angeles_follows_the_dst_switch() {
        let config =
            json!({"timezone": "America/Los_Angeles", "weekly": {"sun": [["09:00", "17:00"]]}});
        // 16:30 UTC is 08:30 PST on Sunday 2026-03-01 ...
        assert_eq!(outcome(config.clone(), utc(2026, 3, 1, 16, 30)), "closed");
        // ... but 09:30 PDT on Sunday 2026-03-08, the day clocks spring forward.
        assert_eq!(outcome(config.clone(), utc(2026, 3, 8, 16, 30)), "open");
        // 00:59 UTC on the 8th is 16:59 PST on Saturday the 7th: not Sunday.
        assert_eq!(outcome(config, utc(2026, 3, 8, 0, 59)), "closed");
    }

    #[test]
    fn kolkata_is_half_an_hour_off_utc() {
        let config = json!({"timezone": "Asia/Kolkata", "weekly": {"mon": [["09:00", "18:00"]]}});
        // Monday 2026-01-05: 09:00 IST is 03:30 UTC.
        assert_eq!(outcome(config.clone(), utc(2026, 1, 5, 3, 29)), "closed");
        assert_eq!(outcome(config.clone(), utc(2026, 1, 5, 3, 30)), "open");
        assert_eq!(outcome(config, utc(2026, 1, 5, 12, 30)), "closed");
    }

    #[test]
    fn an_unknown_time_zone_is_an_error_that_says_so() {
        let config = json!({"timezone": "Mars/Olympus_Mons", "weekly": {}});
        assert_eq!(outcome(config, 0), "error");
        let log = take_native_log();
        assert_eq!(log[0].0, Level::Error);
        assert!(log[0].1.contains("unknown time zone \"Mars/Olympus_Mons\""));
    }

    #[test]
    fn malformed_intervals_are_skipped_with_a_warning() {
        let config = json!({
            "timezone": "UTC",
            "weekly": {"thu": [["9am", "5pm"], ["25:00", "26:00"], ["00:00"], "x", ["00:00", "01:00"]]},
        });
        // The harness clock is Thursday 2026-01-01 00:00 UTC.
        assert_eq!(outcome(config, utc(2026, 1, 1, 0, 0)), "open");
        assert_eq!(take_native_log().len(), 4);
    }

    #[test]
    fn odd_config_is_closed_not_a_panic() {
        let config = json!({"timezone": "UTC", "weekly": "always", "holidays": 3});
        assert_eq!(outcome(config, utc(2026, 1, 1, 12, 0)), "closed");
    }
}
