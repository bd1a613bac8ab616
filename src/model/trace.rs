//! W3C Trace Context (`traceparent`, `tracestate`): hookgate joins the trace a
//! provider started, or starts one, and every request it sends continues it with a
//! span id of its own (a new one per attempt), so a backend's traces link back to
//! the provider's request and to each retry.

use http::{HeaderMap, HeaderName, HeaderValue};
use rand::Rng;

/// `traceparent`.
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`: passed on as received.
pub static TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A parsed `traceparent` (version 00): trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16 bytes, not all zero.
    pub trace_id: [u8; 16],
    /// 8 bytes, not all zero.
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value; `None` when it is not a valid one (which means
    /// starting a new trace). A future version is read by its version-00 prefix, as
    /// the specification asks.
    pub fn parse(value: &str) -> Option<TraceParent> {
        let value = value.trim();
        let mut parts = value.splitn(5, '-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        if version.len() != 2 || version == "ff" || !is_lower_hex(version) {
            return None;
        }
        if version == "00" && rest.is_some() {
            return None;
        }
        let flags =
            (flags.len() == 2 && is_lower_hex(flags)).then(|| u8::from_str_radix(flags, 16).ok())??;
        let trace_id: [u8; 16] = decode(trace)?;
        let span_id: [u8; 8] = decode(span)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The trace of `headers`, or a new one (not sampled: hookgate exports no spans
    /// and leaves the decision to whoever does).
    pub fn of(headers: &HeaderMap) -> TraceParent {
        headers
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse)
            .unwrap_or_else(|| TraceParent::root(false))
    }

    /// A new trace, sampled or not, for a request that came without one.
    pub fn root(sampled: bool) -> TraceParent {
        TraceParent {
            trace_id: random(),
            span_id: random(),
            flags: u8::from(sampled),
        }
    }

    /// Whether the trace is sampled (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace, from a new span (hookgate's handling of a request, and each
    /// request it sends).
    pub fn child(self) -> TraceParent {
        TraceParent {
            span_id: random(),
            ..self
        }
    }

    /// The trace id, hex.
    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The trace id, written as hex only when it is displayed (in a log line that
    /// may be filtered out).
    pub fn shown_trace_id(&self) -> impl std::fmt::Display {
        struct Hex([u8; 16]);
        impl std::fmt::Display for Hex {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
            }
        }
        Hex(self.trace_id)
    }

    /// The header value.
    pub fn header(&self) -> HeaderValue {
        let text = format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        );
        // Hex digits and dashes only.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("00"))
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !is_lower_hex(text) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    while bytes == [0u8; N] {
        rand::rng().fill(&mut bytes);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_specification_s_example_and_refuses_invalid_ones() {
        let parent = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parent.flags, 1);
        assert_eq!(parent.header(), EXAMPLE);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version is read by its version-00 fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever").is_some()
        );
    }

    #[test]
    fn a_child_keeps_the_trace_and_takes_a_new_span() {
        let parent = TraceParent::parse(EXAMPLE).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.flags, parent.flags);
        assert_ne!(child.span_id, parent.span_id);
        let fresh = TraceParent::of(&HeaderMap::new());
        assert_eq!(fresh.flags, 0);
        assert_ne!(fresh.trace_id, [0; 16]);
    }
}
