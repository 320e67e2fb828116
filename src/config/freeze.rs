//! Freeze windows: weekly periods, in a time zone, during which nothing is applied
//! unattended (the daemon still reads, plans and reports). `gwsync sync --ignore-freeze
//! REASON` (or `apply --ignore-freeze REASON`) overrides one, recorded with its reason.
//!
//! A window is written as in a change calendar: `from = "Fri 16:00"`, `to = "Mon 08:00"`,
//! `time_zone = "Europe/Berlin"`: it opens every Friday at 16:00 Berlin time and closes the
//! following Monday at 08:00, across the weekend and daylight-saving changes (the wall clock
//! of the zone decides, so a window keeps its local hours in summer and winter). `from` after
//! `to` in the week wraps around the week's end.

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use std::fmt;

/// Minutes in a week.
const WEEK: u32 = 7 * 24 * 60;

/// One weekly freeze window.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeWindow {
    /// What the window is called in logs and messages (`weekend`, `black friday`).
    pub name: String,
    pub time_zone: TimeZone,
    /// The zone's name as configured, for messages.
    pub zone_name: String,
    /// Minutes since Monday 00:00, local time.
    from: u32,
    to: u32,
    /// As configured, for messages.
    from_text: String,
    to_text: String,
}

impl FreezeWindow {
    /// Parses a window; the error says which part is wrong.
    pub fn parse(name: &str, zone: &str, from: &str, to: &str) -> Result<FreezeWindow, String> {
        let time_zone = TimeZone::get(zone).map_err(|e| {
            format!(
                "time_zone `{zone}` is not an IANA time zone of this system's tz database ({e})"
            )
        })?;
        let (from_minute, to_minute) = (week_minute(from)?, week_minute(to)?);
        if from_minute == to_minute {
            return Err(format!(
                "`from` and `to` are the same time ({from}): the window is empty"
            ));
        }
        Ok(FreezeWindow {
            name: name.to_string(),
            time_zone,
            zone_name: zone.to_string(),
            from: from_minute,
            to: to_minute,
            from_text: from.to_string(),
            to_text: to.to_string(),
        })
    }

    /// Whether the window is open at `at`.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.time_zone.clone());
        let day = u32::from(local.weekday().to_monday_zero_offset().unsigned_abs());
        let minute = day * 24 * 60 + local.hour() as u32 * 60 + local.minute() as u32;
        if self.from < self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }
}

impl fmt::Display for FreezeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "freeze window {} ({} to {}, {})",
            self.name, self.from_text, self.to_text, self.zone_name
        )
    }
}

/// The first of `windows` open at `at`.
pub fn active(windows: &[FreezeWindow], at: Timestamp) -> Option<&FreezeWindow> {
    windows.iter().find(|w| w.contains(at))
}

/// `Fri 16:00` → minutes since Monday 00:00.
fn week_minute(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a weekday and a time such as `Fri 16:00`");
    let (day, time) = text.trim().split_once(' ').ok_or_else(bad)?;
    let day = match day.to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return Err(bad()),
    };
    let (hour, minute) = time.trim().split_once(':').ok_or_else(bad)?;
    let hour: u32 = hour.parse().map_err(|_| bad())?;
    let minute: u32 = minute.parse().map_err(|_| bad())?;
    if hour > 23 || minute > 59 {
        return Err(bad());
    }
    let day = u32::from(day.to_monday_zero_offset().unsigned_abs());
    Ok((day * 24 * 60 + hour * 60 + minute) % WEEK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_weekend_window_wraps_the_week_in_local_time_across_daylight_saving() {
        let w = FreezeWindow::parse("weekend", "Europe/Berlin", "Fri 16:00", "Mon 08:00").unwrap();
        // Friday 2026-12-04, winter (UTC+1): opens at 15:00 UTC.
        assert!(!w.contains(at("2026-12-04T14:59:00Z")));
        assert!(w.contains(at("2026-12-04T15:00:00Z")));
        assert!(w.contains(at("2026-12-06T12:00:00Z")), "Sunday");
        assert!(w.contains(at("2026-12-07T06:59:00Z")));
        assert!(
            !w.contains(at("2026-12-07T07:00:00Z")),
            "Monday 08:00 Berlin"
        );
        // Summer (UTC+2): Friday 2026-07-03 opens at 14:00 UTC.
        assert!(!w.contains(at("2026-07-03T13:59:00Z")));
        assert!(w.contains(at("2026-07-03T14:00:00Z")));
        assert!(!w.contains(at("2026-07-01T12:00:00Z")), "Wednesday");
    }

    #[test]
    fn a_window_inside_one_week_and_the_first_open_one() {
        let night = FreezeWindow::parse("night", "UTC", "Tue 22:00", "Wed 06:00").unwrap();
        let weekend = FreezeWindow::parse("weekend", "UTC", "sat 00:00", "sunday 23:59").unwrap();
        let windows = [night, weekend];
        assert_eq!(
            active(&windows, at("2026-12-08T23:00:00Z")).map(|w| w.name.as_str()),
            Some("night")
        );
        assert_eq!(
            active(&windows, at("2026-12-05T10:00:00Z")).map(|w| w.name.as_str()),
            Some("weekend")
        );
        assert_eq!(active(&windows, at("2026-12-09T07:00:00Z")), None);
    }

    #[test]
    fn bad_windows_say_what_is_wrong() {
        let err = |zone: &str, from: &str, to: &str| {
            FreezeWindow::parse("w", zone, from, to).unwrap_err()
        };
        assert!(err("Mars/Olympus", "Fri 16:00", "Mon 08:00").contains("Mars/Olympus"));
        assert!(err("UTC", "Friday", "Mon 08:00").contains("`Friday`"));
        assert!(err("UTC", "Fri 24:00", "Mon 08:00").contains("`Fri 24:00`"));
        assert!(err("UTC", "Fri 16:00", "Fri 16:00").contains("empty"));
    }
}
