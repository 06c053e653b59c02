use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with microsecond precision, written as the reference writes it:
/// `2026-11-24T23:31:04.112621Z`, and without the fraction when it is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_micros(jiff::Timestamp::now().as_microsecond())
    }

    pub fn from_micros(micros: i64) -> Self {
        Timestamp { micros }
    }

    pub fn as_micros(self) -> i64 {
        self.micros
    }

    pub fn as_seconds(self) -> i64 {
        self.micros.div_euclid(1_000_000)
    }

    fn parts(self) -> (jiff::civil::DateTime, i64) {
        let ts = jiff::Timestamp::from_microsecond(self.micros).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        (dt, self.micros.rem_euclid(1_000_000))
    }

    /// Python's `datetime.isoformat()` for an aware UTC value: `…+00:00`, fraction kept only when
    /// non-zero. The reference uses this form inside the demo artifact.
    pub fn isoformat(self) -> String {
        let (dt, frac) = self.parts();
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        if frac != 0 {
            s.push_str(&format!(".{frac:06}"));
        }
        s.push_str("+00:00");
        s
    }

    pub fn parse(s: &str) -> Option<Self> {
        let ts: jiff::Timestamp = s.parse().ok()?;
        Some(Self::from_micros(ts.as_microsecond()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dt, frac) = self.parts();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )?;
        if frac != 0 {
            write!(f, ".{frac:06}")?;
        }
        f.write_str("Z")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_is_dropped_only_when_zero() {
        // 2026-01-02T03:04:05Z
        let whole = Timestamp::from_micros(1_767_323_045_000_000);
        assert_eq!(whole.to_string(), "2026-01-02T03:04:05Z");
        assert_eq!(whole.isoformat(), "2026-01-02T03:04:05+00:00");
        let frac = Timestamp::from_micros(1_767_323_045_000_042);
        assert_eq!(frac.to_string(), "2026-01-02T03:04:05.000042Z");
        assert_eq!(Timestamp::parse(&frac.to_string()), Some(frac));
    }
}
