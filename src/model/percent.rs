//! Percent-encoding (RFC 3986 §2.1): what the signature schemes, `hookgate sign`
//! and URL templates use to take values out of URLs and put them in. The encoding
//! and decoding are the `percent-encoding` and `form_urlencoded` crates'; this
//! module names the sets hookgate encodes with.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Everything but `ALPHA / DIGIT / "-" / "." / "_" / "~"` (unreserved), which stay
/// as they are in any component.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a path segment may not hold as it is: all but unreserved, the
/// sub-delimiters, `:` and `@` (`pchar` without `%`). `/`, `?`, `#` and `%` are
/// encoded.
pub const SEGMENT: &AsciiSet = &UNRESERVED
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// A path already encoded, kept as sent: `SEGMENT` with `/` and `%` left alone.
pub const PATH: &AsciiSet = &SEGMENT.remove(b'/').remove(b'%');

/// `text` (any bytes) with every byte of `set`, and every non-ASCII byte, written
/// as `%XX`.
pub fn encode(text: impl AsRef<[u8]>, set: &'static AsciiSet) -> String {
    percent_encoding::percent_encode(text.as_ref(), set).to_string()
}

/// `bytes` with `%XX` escapes decoded (and `+` as a space, for form encoding);
/// malformed escapes are kept as they are.
pub fn decode(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    if plus_is_space && bytes.contains(&b'+') {
        let spaced: Vec<u8> = bytes.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        return percent_encoding::percent_decode(&spaced).collect();
    }
    percent_encoding::percent_decode(bytes).collect()
}

/// The name–value pairs of a query string (`a=1&b=x+y`), decoded as a form: `%XX`
/// escapes and `+` as a space; invalid UTF-8 replaced. A pair without `=` has an
/// empty value; empty pairs are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(name, value)| (name.into_owned(), value.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_what_it_should() {
        assert_eq!(encode("a b/c?d#e%f", UNRESERVED), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(encode("a:b@c,d/e", SEGMENT), "a:b@c,d%2Fe");
        assert_eq!(encode("/a%20b/c d", PATH), "/a%20b/c%20d");
        let pairs: Vec<_> = query_pairs("a=1&b=x+y%21&&c").collect();
        assert_eq!(
            pairs,
            [
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(decode(b"a%20b%2Fc+d", false), b"a b/c+d");
        assert_eq!(decode(b"a+b", true), b"a b");
        assert_eq!(decode(b"100%", false), b"100%");
        assert_eq!(decode(b"%zz", false), b"%zz");
        let text = "é/ü ?";
        assert_eq!(
            decode(encode(text, UNRESERVED).as_bytes(), false),
            text.as_bytes()
        );
    }
}
