//! Parsing the timestamp spellings seer accepts in CSV files and on the command line.

use super::{SECONDS_PER_DAY, days_from_civil, days_in_month};
use crate::CoreError;

/// Parses a timestamp into UTC unix seconds.
///
/// Accepted, after trimming surrounding whitespace:
/// - an integer: unix seconds (`1704067200`, `-1`);
/// - `YYYY-MM-DD` followed by `T`, `t` or a space and `HH:MM` or `HH:MM:SS`, optionally a
///   fraction of a second (`.123`, truncated, never rounded) and optionally a UTC offset (`Z`,
///   `+02:00`, `-0530`); without an offset the time is UTC. This covers RFC 3339 and the
///   `2024-01-01 00:00:00` spelling of pandas and SQL;
/// - a bare date `YYYY-MM-DD`: midnight UTC.
///
/// Fields are range-checked (February 30th and 24:00 are errors); leap seconds (`:60`) are
/// rejected because unix time cannot represent them.
pub fn parse_timestamp(s: &str) -> Result<i64, CoreError> {
    let t = s.trim();
    let parsed = if is_integer(t) {
        t.parse::<i64>().ok()
    } else {
        parse_datetime(t.as_bytes())
    };
    parsed.ok_or_else(|| CoreError::InvalidTimestamp(s.to_string()))
}

fn is_integer(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A forward-only reader over the bytes of a timestamp.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Consumes `expected` if it is next.
    fn eat(&mut self, expected: u8) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes `expected`, which must be next.
    fn expect(&mut self, expected: u8) -> Option<()> {
        self.eat(expected).then_some(())
    }

    /// Exactly `n` ASCII digits as a number (n is at most 4 here, so it cannot overflow).
    fn digits(&mut self, n: usize) -> Option<u32> {
        let end = self.pos.checked_add(n)?;
        let chunk = self.bytes.get(self.pos..end)?;
        let mut value = 0u32;
        for &b in chunk {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        self.pos = end;
        Some(value)
    }
}

fn parse_datetime(bytes: &[u8]) -> Option<i64> {
    let mut c = Cursor { bytes, pos: 0 };
    let year = i64::from(c.digits(4)?);
    c.expect(b'-')?;
    let month = c.digits(2)?;
    c.expect(b'-')?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * SECONDS_PER_DAY;
    if c.at_end() {
        return Some(midnight);
    }

    match c.peek()? {
        b'T' | b't' | b' ' => c.pos += 1,
        _ => return None,
    }
    let hour = c.digits(2)?;
    c.expect(b':')?;
    let minute = c.digits(2)?;
    let mut second = 0;
    if c.eat(b':') {
        second = c.digits(2)?;
        if matches!(c.peek(), Some(b'.' | b',')) {
            c.pos += 1;
            let start = c.pos;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.pos += 1;
            }
            if c.pos == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = parse_offset(&mut c)?;
    if !c.at_end() {
        return None;
    }
    let local = midnight + i64::from(hour * 3600 + minute * 60 + second);
    Some(local - offset)
}

/// The UTC offset in seconds (local time minus UTC); 0 when there is none.
fn parse_offset(c: &mut Cursor<'_>) -> Option<i64> {
    let sign = match c.peek() {
        None => return Some(0),
        Some(b'Z' | b'z') => {
            c.pos += 1;
            return Some(0);
        }
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    c.pos += 1;
    let hours = c.digits(2)?;
    // Both `+02:00` (RFC 3339) and `+0200` (ISO 8601 basic) are in the wild.
    c.eat(b':');
    let minutes = c.digits(2)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_YEAR_2024: i64 = 1_704_067_200;

    fn ok(s: &str) -> i64 {
        match parse_timestamp(s) {
            Ok(ts) => ts,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    #[test]
    fn parses_integers_as_unix_seconds() {
        assert_eq!(ok("1704067200"), NEW_YEAR_2024);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("-86400"), -86_400);
        assert_eq!(ok("+5"), 5);
        assert_eq!(ok(" 42 "), 42);
        assert_eq!(ok("9223372036854775807"), i64::MAX);
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(ok("2024-01-01T00:00:00Z"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01t00:00:00z"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01T12:34:56Z"), NEW_YEAR_2024 + 45_296);
    }

    #[test]
    fn truncates_fractional_seconds() {
        assert_eq!(ok("2024-01-01T00:00:00.999Z"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01T00:00:01.5"), NEW_YEAR_2024 + 1);
        assert_eq!(ok("2024-01-01 00:00:01,123456789"), NEW_YEAR_2024 + 1);
    }

    #[test]
    fn applies_offsets() {
        // 02:00 at +02:00 is midnight UTC.
        assert_eq!(ok("2024-01-01T02:00:00+02:00"), NEW_YEAR_2024);
        assert_eq!(ok("2023-12-31T19:00:00-05:00"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01T05:30:00+0530"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01T00:00:00.25+00:00"), NEW_YEAR_2024);
    }

    #[test]
    fn parses_space_and_minute_precision_forms() {
        assert_eq!(ok("2024-01-01 00:00:00"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01 00:00"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01T00:00"), NEW_YEAR_2024);
        assert_eq!(ok("2024-01-01 01:30"), NEW_YEAR_2024 + 5400);
    }

    #[test]
    fn parses_bare_dates_as_midnight_utc() {
        assert_eq!(ok("2024-01-01"), NEW_YEAR_2024);
        assert_eq!(ok("1970-01-01"), 0);
        assert_eq!(ok("1969-12-31"), -86_400);
        assert_eq!(ok("2024-02-29"), NEW_YEAR_2024 + 59 * 86_400);
    }

    #[test]
    fn rejects_malformed_input_quoting_it() {
        for bad in [
            "",
            "   ",
            "abc",
            "-",
            "1.5",
            "1e9",
            "99999999999999999999",
            "2024-1-01",
            "2024/01/01",
            "24-01-01",
            "2024-01-01T",
            "2024-01-01T00",
            "2024-01-01T00:00:",
            "2024-01-01T00:00:00.",
            "2024-01-01T00:00:00Zjunk",
            "2024-01-01T00:00:00 +02:00",
            "2024-01-01T00:00:00+2",
            "2024-01-01X00:00",
            "2024-01-01é",
        ] {
            let err = parse_timestamp(bad).expect_err(bad);
            assert_eq!(err, CoreError::InvalidTimestamp(bad.to_string()));
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn rejects_out_of_range_fields() {
        for bad in [
            "2024-00-01",
            "2024-13-01",
            "2024-01-00",
            "2024-01-32",
            "2023-02-29",
            "2024-04-31",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T23:59:60Z",
            "2024-01-01T00:00:00+24:00",
            "2024-01-01T00:00:00+01:60",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn error_message_is_lowercase_and_quotes_input() {
        let msg = match parse_timestamp("tomorrow") {
            Err(e) => e.to_string(),
            Ok(ts) => panic!("parsed {ts}"),
        };
        assert!(
            msg.starts_with("cannot parse \"tomorrow\" as a timestamp"),
            "{msg}"
        );
        assert!(!msg.ends_with('.'));
    }
}
