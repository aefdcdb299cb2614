//! Timestamps as Glance writes them (`2015-11-29T22:21:42Z`, UTC, seconds),
//! and the ISO 8601 forms accepted by the `created_at`/`updated_at` filters.
//! Pure calendar arithmetic, so the worker needs no date crate.

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(epoch_seconds: i64) -> String {
    let days = epoch_seconds.div_euclid(86_400);
    let secs = epoch_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// Formats seconds since the Unix epoch as an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's IMF-fixdate).
pub fn format_http_date(epoch_seconds: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = epoch_seconds.div_euclid(86_400);
    let secs = epoch_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Parses an HTTP date in RFC 9110's preferred form (IMF-fixdate, `Sun, 06
/// Nov 1994 08:49:37 GMT`) into seconds since the epoch; the obsolete forms
/// and anything else give `None` (a condition on it is then ignored, as
/// RFC 9110 says of an invalid date).
pub fn parse_http_date(raw: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let raw = raw.trim();
    let (_weekday, rest) = raw.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else { return None };
    let (day, year): (u32, i64) = (digits(day)?, digits(year)?);
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    if day.to_string().len() > 2 || year < 1000 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let clock: Vec<&str> = time.split(':').collect();
    let [hour, minute, second] = clock[..] else { return None };
    let (hour, minute, second): (i64, i64, i64) = (digits(hour)?, digits(minute)?, digits(second)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Parses an ISO 8601 date-time (`2026-11-22`, `2026-11-22T12:13:07Z`,
/// `2026-11-22 12:13:07.123+02:00`, ...) into seconds since the epoch (UTC).
pub fn parse_iso8601(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let bytes = raw.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = digits(&raw[0..4])?;
    let month: u32 = digits(&raw[5..7])?;
    let day: u32 = digits(&raw[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut rest = &raw[10..];
    if rest.is_empty() {
        return Some(seconds);
    }
    rest = rest.strip_prefix(['T', 't', ' '])?;
    if rest.len() < 5 || rest.as_bytes()[2] != b':' {
        return None;
    }
    let hour: i64 = digits(&rest[0..2])?;
    let minute: i64 = digits(&rest[3..5])?;
    rest = &rest[5..];
    let mut second: i64 = 0;
    if let Some(after) = rest.strip_prefix(':') {
        if after.len() < 2 {
            return None;
        }
        second = digits(&after[0..2])?;
        rest = &after[2..];
        if let Some(fraction) = rest.strip_prefix('.') {
            let end = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
            if end == 0 {
                return None;
            }
            rest = &fraction[end..];
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    seconds += hour * 3600 + minute * 60 + second;
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = rest[1..].replace(':', "");
            if zone.len() != 4 {
                return None;
            }
            let hours: i64 = digits(&zone[0..2])?;
            let minutes: i64 = digits(&zone[2..4])?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(seconds - offset)
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip_and_other_forms_are_refused() {
        for seconds in [0, 784_111_777, 1_796_660_932, 4_102_444_799] {
            assert_eq!(parse_http_date(&format_http_date(seconds)), Some(seconds));
        }
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "",
            "garbage",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(format_http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format_http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_448_835_702), "2015-11-29T22:21:42Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_the_forms_filters_use() {
        assert_eq!(parse_iso8601("2015-11-29T22:21:42Z"), Some(1_448_835_702));
        assert_eq!(parse_iso8601("2015-11-29T22:21:42"), Some(1_448_835_702));
        assert_eq!(parse_iso8601("2015-11-29 22:21:42.123456"), Some(1_448_835_702));
        assert_eq!(parse_iso8601("2015-11-30T00:21:42+02:00"), Some(1_448_835_702));
        assert_eq!(parse_iso8601("2015-11-29T21:21:42-0100"), Some(1_448_835_702));
        assert_eq!(parse_iso8601("2015-11-29T22:21Z"), Some(1_448_835_660));
        assert_eq!(parse_iso8601("2015-11-29"), Some(1_448_755_200));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in
            ["", "yesterday", "2015-13-01", "2015-02-30", "2015-11-29T25:00:00", "2015-11-29X", "2015-11-29T22:21:42+2"]
        {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_every_day_for_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let text = format_utc(days * 86_400 + 3_723);
            assert_eq!(parse_iso8601(&text), Some(days * 86_400 + 3_723), "{text}");
        }
    }
}
