//! Human units in config values: durations (`500ms`, `5s`, `10m`, `72h`) and byte
//! sizes (`1MiB`, `512KiB`, `50MB`, `1024`); and the serde readers that let a value
//! be written as YAML writes it (`max_body: 4096`, `max_concurrency: 8`) or come from
//! `${VAR}`, which always yields text (`max_concurrency: ${WORKERS}`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Parses a duration such as `500ms`, `5s`, `10m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("expected a duration such as `500ms`, `5s` or `10m`, found `{text}`"))
}

/// Parses a byte size: a bare number of bytes, or a number with `KB`/`MB`/`GB` (powers
/// of 1000) or `KiB`/`MiB`/`GiB` (powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let error = || format!("expected a size such as `1MiB`, `512KiB` or `1048576`, found `{text}`");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().map_err(|_| error())?;
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(error()),
    };
    number.checked_mul(factor).ok_or_else(error)
}

/// A scalar read as its text: a string as it is, a number as written.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar, E> {
                Ok(Scalar(text.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, number: u64) -> Result<Scalar, E> {
                Ok(Scalar(number.to_string()))
            }
            fn visit_i64<E: de::Error>(self, number: i64) -> Result<Scalar, E> {
                Ok(Scalar(number.to_string()))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<Scalar, E> {
                Ok(Scalar(number.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

/// Reads an optional size, duration or rate as text, whether it is written as a
/// string or as a number (`max_body: 4096`); the unit parsers then judge it.
pub(crate) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(deserializer)?.map(|scalar| scalar.0))
}

/// Reads an optional whole number written as a number or as text (`${VAR}`).
pub(crate) fn count<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<Scalar>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Scalar(text)) => whole(&text).map(Some).map_err(de::Error::custom),
    }
}

/// Reads a list of whole numbers, each written as a number or as text.
pub(crate) fn counts<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    Vec::<Scalar>::deserialize(deserializer)?
        .iter()
        .map(|Scalar(text)| whole(text).map_err(de::Error::custom))
        .collect()
}

fn whole<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .and_then(|number| T::try_from(number).ok())
        .ok_or_else(|| format!("expected a whole number such as `16`, found `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("1 TiB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[derive(Debug, Deserialize)]
    struct Both {
        #[serde(default, deserialize_with = "text")]
        size: Option<String>,
        #[serde(default, deserialize_with = "count")]
        workers: Option<u32>,
        #[serde(default, deserialize_with = "counts")]
        statuses: Vec<u16>,
    }

    #[test]
    fn numbers_and_their_text_read_alike() {
        let written: Both = serde_yaml::from_str("size: 4096\nworkers: 8\nstatuses: [409, \"410\"]").unwrap();
        let interpolated: Both =
            serde_yaml::from_str("size: \"4096\"\nworkers: \"8\"\nstatuses: [\"409\", 410]").unwrap();
        for both in [written, interpolated] {
            assert_eq!(both.size.as_deref(), Some("4096"));
            assert_eq!(both.workers, Some(8));
            assert_eq!(both.statuses, [409, 410]);
        }
        let absent: Both = serde_yaml::from_str("{}").unwrap();
        assert_eq!((absent.size, absent.workers), (None, None));
        let error = serde_yaml::from_str::<Both>("workers: eight")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("expected a whole number such as `16`, found `eight`"),
            "{error}"
        );
        assert!(serde_yaml::from_str::<Both>("workers: -1").is_err());
        assert!(serde_yaml::from_str::<Both>("workers: 99999999999").is_err());
    }
}
