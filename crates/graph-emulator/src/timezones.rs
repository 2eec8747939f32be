//! Time zones as Exchange names them. Mailboxes and `Prefer: outlook.timezone` use Windows names
//! ("W. Europe Standard Time"); IANA names are accepted too. The table maps the Windows zones in
//! common use to their CLDR "territory 001" IANA equivalents.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Eastern Standard Time", "America/New_York"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
];

/// A Windows or IANA zone name as a zone.
pub(crate) fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    WINDOWS_ZONES
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(name))
        .and_then(|(_, iana)| iana.parse().ok())
        .or_else(|| name.parse().ok())
}

/// Graph's `dateTimeTimeZone`: local wall time with seven fractional digits, and the zone name.
pub(crate) fn date_time_time_zone(t: DateTime<Utc>, zone_name: &str) -> serde_json::Value {
    let tz = zone(zone_name).unwrap_or(Tz::UTC);
    let local = t.with_timezone(&tz).naive_local();
    // Seven fractional digits (100 ns ticks), as Exchange writes them.
    let ticks = chrono::Timelike::nanosecond(&local) / 100;
    serde_json::json!({
        "dateTime": format!("{}.{ticks:07}", local.format("%Y-%m-%dT%H:%M:%S")),
        "timeZone": zone_name,
    })
}

/// A `startDateTime`/`endDateTime` query value: with an offset it means that instant; without one
/// it is UTC, as Graph documents.
pub(crate) fn parse_query_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .map(|n| n.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_names_both_work_with_daylight_saving() {
        let summer = DateTime::parse_from_rfc3339("2026-07-01T10:00:00Z")
            .expect("date")
            .to_utc();
        let winter = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("date")
            .to_utc();
        assert_eq!(
            date_time_time_zone(summer, "W. Europe Standard Time")["dateTime"],
            "2026-07-01T12:00:00.0000000"
        );
        assert_eq!(
            date_time_time_zone(winter, "W. Europe Standard Time")["dateTime"],
            "2026-12-01T11:00:00.0000000"
        );
        assert_eq!(
            date_time_time_zone(winter, "America/New_York")["dateTime"],
            "2026-12-01T05:00:00.0000000"
        );
        assert_eq!(
            date_time_time_zone(summer, "Pacific Standard Time")["dateTime"],
            "2026-07-01T03:00:00.0000000"
        );
        assert!(zone("Mars Standard Time").is_none());
        assert_eq!(
            parse_query_instant("2026-11-23T00:00:00-08:00"),
            Some(
                DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
                    .expect("d")
                    .to_utc()
            )
        );
        assert_eq!(
            parse_query_instant("2026-11-23T08:00:00"),
            Some(
                DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
                    .expect("d")
                    .to_utc()
            )
        );
    }
}
