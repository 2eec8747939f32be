//! Time zones as Microsoft names them, and local wall times turned into instants.
//!
//! Outlook's `mailboxSettings.timeZone` and the `timeZone` of an event's start and end are usually
//! Windows zone ids ("W. Europe Standard Time"), sometimes IANA names, and now and then oddities
//! such as `tzone://Microsoft/Utc`. [`resolve_time_zone`] takes any of them. The Windows table is
//! the CLDR `windowsZones` mapping for territory "001" (the zone CLDR names as the best
//! representative), with the few legacy Windows ids Exchange still returns for old mailboxes.

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// Windows time-zone id → IANA zone, CLDR `windowsZones.xml`, territory "001".
///
/// Where CLDR still names a legacy IANA link (`Asia/Calcutta`, `Europe/Kiev`), the canonical
/// name it links to is used instead; the instants are the same.
pub const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("UTC-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("UTC-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Cuba Standard Time", "America/Havana"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("Greenland Standard Time", "America/Nuuk"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Bahia Standard Time", "America/Bahia"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    // Kazakhstan moved to UTC+5 in 2024; CLDR now names Bishkek for this UTC+6 zone.
    ("Central Asia Standard Time", "Asia/Bishkek"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("UTC+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("UTC+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
    // Legacy ids that Windows retired but old mailboxes still carry.
    ("Mid-Atlantic Standard Time", "Etc/GMT+2"),
    ("Kamchatka Standard Time", "Asia/Kamchatka"),
    ("Mexico Standard Time", "America/Mexico_City"),
    ("Mexico Standard Time 2", "America/Chihuahua"),
    ("Armenian Standard Time", "Asia/Yerevan"),
];

/// The IANA zone for a Windows time-zone id, ignoring ASCII case and surrounding spaces.
///
/// ```
/// use calendar_core::tz::windows_to_iana;
/// assert_eq!(windows_to_iana("W. Europe Standard Time"), Some(chrono_tz::Europe::Berlin));
/// assert_eq!(windows_to_iana("pacific standard time"), Some(chrono_tz::America::Los_Angeles));
/// assert_eq!(windows_to_iana("Europe/Berlin"), None);
/// ```
pub fn windows_to_iana(windows_name: &str) -> Option<Tz> {
    let name = windows_name.trim();
    WINDOWS_ZONES
        .iter()
        .find(|(windows, _)| windows.eq_ignore_ascii_case(name))
        .and_then(|(_, iana)| iana.parse().ok())
}

/// A zone from whatever Microsoft or a user calls it: an IANA name (any ASCII case), a Windows
/// id, or Exchange's `tzone://Microsoft/...` form (`tzone://Microsoft/Utc`, or with a Windows id
/// after the prefix). `UTC`, `GMT` and `Z` are UTC.
///
/// ```
/// use calendar_core::tz::resolve_time_zone;
/// assert_eq!(resolve_time_zone("Asia/Kolkata"), Some(chrono_tz::Asia::Kolkata));
/// assert_eq!(resolve_time_zone("india standard time"), Some(chrono_tz::Asia::Kolkata));
/// assert_eq!(resolve_time_zone("tzone://Microsoft/Utc"), Some(chrono_tz::UTC));
/// assert_eq!(resolve_time_zone("Mars/Olympus_Mons"), None);
/// ```
pub fn resolve_time_zone(name: &str) -> Option<Tz> {
    let mut name = name.trim();
    const PREFIX: &str = "tzone://microsoft/";
    if name.len() >= PREFIX.len()
        && name.is_char_boundary(PREFIX.len())
        && name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
    {
        name = name[PREFIX.len()..].trim();
    }
    if name.is_empty() {
        return None;
    }
    if ["utc", "z", "gmt", "etc/utc", "etc/gmt"]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(name))
    {
        return Some(Tz::UTC);
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    if let Some(tz) = windows_to_iana(name) {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .copied()
}

/// The instant a local wall time stands for in `tz`, decided the way a person would expect:
///
/// - a time that does not exist because the clocks sprang forward over it (02:30 on the night
///   New York moves from 02:00 to 03:00) is the first instant after the gap (03:00 EDT);
/// - a time that happens twice because the clocks fell back (01:30 on the night New York moves
///   from 02:00 back to 01:00) is the earlier of the two (01:30 EDT).
///
/// ```
/// use calendar_core::tz::local_to_utc;
/// use chrono::NaiveDate;
/// let tz = chrono_tz::America::New_York;
/// let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().and_hms_opt(2, 30, 0).unwrap();
/// assert_eq!(local_to_utc(tz, gap).to_rfc3339(), "2026-03-08T07:00:00+00:00");
/// let twice = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 30, 0).unwrap();
/// assert_eq!(local_to_utc(tz, twice).to_rfc3339(), "2026-11-01T05:30:00+00:00");
/// ```
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at.to_utc(),
        LocalResult::Ambiguous(earlier, _) => earlier.to_utc(),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The transition instant that ends the spring-forward gap `local` falls in.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Offsets well before and after the gap (no zone has two transitions a day apart).
    let offset_at = |at: NaiveDateTime| {
        TimeDelta::seconds(i64::from(
            tz.offset_from_utc_datetime(&at).fix().local_minus_utc(),
        ))
    };
    let before = offset_at(local - TimeDelta::days(1));
    let after = offset_at(local + TimeDelta::days(1));
    // In UTC the transition lies in [local - after, local - before]: the first instant whose
    // offset is no longer `before`. Binary search on whole seconds.
    let mut lo = (local - after).and_utc().timestamp();
    let mut hi = (local - before).and_utc().timestamp();
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    let differs = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .map(|at| offset_at(at.naive_utc()) != before)
            .unwrap_or(true)
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if differs(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    DateTime::from_timestamp(lo, 0).unwrap_or_else(|| (local - before).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn every_windows_id_maps_to_a_real_zone() {
        assert!(WINDOWS_ZONES.len() >= 140, "{}", WINDOWS_ZONES.len());
        for (windows, iana) in WINDOWS_ZONES {
            let tz = windows_to_iana(windows)
                .unwrap_or_else(|| panic!("{windows} → {iana} is not a chrono_tz zone"));
            assert_eq!(tz.name(), *iana);
            assert_eq!(windows_to_iana(&windows.to_uppercase()), Some(tz));
            // "UTC" resolves to chrono_tz's UTC, the same zone as Etc/UTC.
            if *windows != "UTC" {
                assert_eq!(resolve_time_zone(windows), Some(tz));
            }
        }
        let mut names: Vec<String> = WINDOWS_ZONES
            .iter()
            .map(|(w, _)| w.to_ascii_lowercase())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), WINDOWS_ZONES.len(), "no id listed twice");
    }

    #[test]
    fn the_common_mailbox_zones() {
        for (windows, iana) in [
            ("Pacific Standard Time", "America/Los_Angeles"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("India Standard Time", "Asia/Kolkata"),
            ("Tokyo Standard Time", "Asia/Tokyo"),
            ("AUS Eastern Standard Time", "Australia/Sydney"),
            ("UTC", "Etc/UTC"),
            ("GMT Standard Time", "Europe/London"),
            ("Romance Standard Time", "Europe/Paris"),
            ("Eastern Standard Time", "America/New_York"),
            ("Central Standard Time", "America/Chicago"),
            ("Mountain Standard Time", "America/Denver"),
            ("US Mountain Standard Time", "America/Phoenix"),
            ("Hawaiian Standard Time", "Pacific/Honolulu"),
            ("Alaskan Standard Time", "America/Anchorage"),
            ("E. South America Standard Time", "America/Sao_Paulo"),
            ("Cen. Australia Standard Time", "Australia/Adelaide"),
            ("New Zealand Standard Time", "Pacific/Auckland"),
            ("China Standard Time", "Asia/Shanghai"),
            ("Singapore Standard Time", "Asia/Singapore"),
            ("Russian Standard Time", "Europe/Moscow"),
            ("Israel Standard Time", "Asia/Jerusalem"),
            ("Arabian Standard Time", "Asia/Dubai"),
        ] {
            assert_eq!(windows_to_iana(windows).map(|t| t.name()), Some(iana));
        }
        assert_eq!(
            windows_to_iana("  eastern standard TIME "),
            Some(chrono_tz::America::New_York)
        );
        assert_eq!(windows_to_iana("Eastern"), None);
        assert_eq!(windows_to_iana(""), None);
    }

    #[test]
    fn resolves_iana_windows_and_oddities() {
        assert_eq!(
            resolve_time_zone("Europe/Paris"),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(
            resolve_time_zone("europe/paris"),
            Some(chrono_tz::Europe::Paris)
        );
        assert_eq!(
            resolve_time_zone("AMERICA/ARGENTINA/BUENOS_AIRES"),
            Some(chrono_tz::America::Argentina::Buenos_Aires)
        );
        assert_eq!(resolve_time_zone("tzone://Microsoft/Utc"), Some(Tz::UTC));
        assert_eq!(
            resolve_time_zone("tzone://Microsoft/Tokyo Standard Time"),
            Some(chrono_tz::Asia::Tokyo)
        );
        assert_eq!(resolve_time_zone("utc"), Some(Tz::UTC));
        assert_eq!(resolve_time_zone("Z"), Some(Tz::UTC));
        assert_eq!(resolve_time_zone("tzone://Microsoft/Custom"), None);
        assert_eq!(resolve_time_zone("tzone://Microsoft/"), None);
        assert_eq!(resolve_time_zone(""), None);
        assert_eq!(resolve_time_zone("tzone://Micrö"), None);
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .expect("valid")
    }

    #[test]
    fn gaps_resolve_forward_and_overlaps_to_the_earlier_instant() {
        let berlin = chrono_tz::Europe::Berlin;
        // 02:00-03:00 does not exist on 2026-03-29; the clocks jump at 01:00 UTC.
        assert_eq!(
            local_to_utc(berlin, at(2026, 3, 29, 2, 0)).to_rfc3339(),
            "2026-03-29T01:00:00+00:00"
        );
        assert_eq!(
            local_to_utc(berlin, at(2026, 3, 29, 2, 59)).to_rfc3339(),
            "2026-03-29T01:00:00+00:00"
        );
        // 02:30 happens twice on 2026-10-25: first in CEST.
        assert_eq!(
            local_to_utc(berlin, at(2026, 10, 25, 2, 30)).to_rfc3339(),
            "2026-10-25T00:30:00+00:00"
        );
        // Lord Howe moves by half an hour.
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            local_to_utc(lord_howe, at(2026, 10, 4, 2, 10)).to_rfc3339(),
            "2026-10-03T15:30:00+00:00"
        );
        // Samoa skipped all of 2011-12-30.
        let apia = chrono_tz::Pacific::Apia;
        assert_eq!(
            local_to_utc(apia, at(2011, 12, 30, 9, 0)).to_rfc3339(),
            "2011-12-30T10:00:00+00:00"
        );
        // An ordinary time is itself.
        assert_eq!(
            local_to_utc(chrono_tz::Asia::Kolkata, at(2026, 11, 23, 9, 0)).to_rfc3339(),
            "2026-11-23T03:30:00+00:00"
        );
    }
}
