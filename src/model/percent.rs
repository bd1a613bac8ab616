//! Percent-encoding (RFC 3986 §2.1): what the signature schemes, `hookgate sign`
//! and URL templates use to take values out of URLs and put them in.

/// `ALPHA / DIGIT / "-" / "." / "_" / "~"`: kept as they are in any component.
pub fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// What a path segment may hold as it is (`pchar` without `%`): unreserved, the
/// sub-delimiters, `:` and `@`. `/`, `?`, `#` and `%` are encoded.
pub fn segment(byte: u8) -> bool {
    unreserved(byte) || b"!$&'()*+,;=:@".contains(&byte)
}

/// `text` (any bytes) with every byte `keep` refuses written as `%XX`.
pub fn encode(text: impl AsRef<[u8]>, keep: impl Fn(u8) -> bool) -> String {
    let text = text.as_ref();
    let mut out = String::with_capacity(text.len());
    for &byte in text {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `bytes` with `%XX` escapes decoded (and `+` as a space, for form encoding);
/// malformed escapes are kept as they are.
pub fn decode(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = match bytes[index..] {
            [b'%', high, low, ..] => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        match (escaped, bytes[index]) {
            (Some((high, low)), _) => {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
            (None, b'+') if plus_is_space => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        index += 1;
    }
    out
}

/// The name–value pairs of a query string (`a=1&b=x+y`), decoded as a form: `%XX`
/// escapes and `+` as a space; invalid UTF-8 replaced. A pair without `=` has an
/// empty value; empty pairs are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let text = |raw: &str| String::from_utf8_lossy(&decode(raw.as_bytes(), true)).into_owned();
    query.split('&').filter(|pair| !pair.is_empty()).map(move |pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (text(name), text(value))
    })
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_what_it_should() {
        assert_eq!(encode("a b/c?d#e%f", unreserved), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(encode("a:b@c,d/e", segment), "a:b@c,d%2Fe");
        assert_eq!(decode(b"a%20b%2Fc+d", false), b"a b/c+d");
        assert_eq!(decode(b"a+b", true), b"a b");
        assert_eq!(decode(b"100%", false), b"100%");
        assert_eq!(decode(b"%zz", false), b"%zz");
        let text = "é/ü ?";
        assert_eq!(
            decode(encode(text, unreserved).as_bytes(), false),
            text.as_bytes()
        );
    }
}
