//! The patterns of `match()` and `search()` that are plain text, at most anchored
//! (`^consent_`, `_failed$`, `^link_created$`): matched as string comparisons,
//! decided once at load. Any other pattern is left to jsonpath-rust and its regex.

/// A pattern that is literal text, optionally anchored at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    text: String,
    start: bool,
    end: bool,
}

/// The characters a regex gives a meaning to outside a class.
const SPECIAL: &str = r"\.+*?()|[]{}^$";

impl Literal {
    /// The pattern as literal text, when it is one: every character is plain or an
    /// escaped special character, with a `^` first and a `$` last at most.
    pub fn parse(pattern: &str) -> Option<Literal> {
        let (start, rest) = match pattern.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let mut text = String::with_capacity(rest.len());
        let mut end = false;
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            if end {
                return None;
            }
            match c {
                '\\' => match chars.next() {
                    Some(escaped) if SPECIAL.contains(escaped) => text.push(escaped),
                    _ => return None,
                },
                '$' => end = true,
                c if SPECIAL.contains(c) => return None,
                c => text.push(c),
            }
        }
        Some(Literal { text, start, end })
    }

    /// Whether `subject` matches: as a whole (`match()`), or anywhere in it
    /// (`search()`).
    pub fn matches(&self, subject: &str, whole: bool) -> bool {
        let text = self.text.as_str();
        match (whole || (self.start && self.end), self.start, self.end) {
            (true, _, _) => subject == text,
            (false, true, _) => subject.starts_with(text),
            (false, false, true) => subject.ends_with(text),
            (false, false, false) => subject.contains(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_with_anchors_and_escapes() {
        let prefix = Literal::parse("^consent_").unwrap();
        assert!(prefix.matches("consent_authorised", false));
        assert!(!prefix.matches("a_consent_", false));
        assert!(!prefix.matches("consent_authorised", true), "match() is whole");
        let suffix = Literal::parse("_failed$").unwrap();
        assert!(suffix.matches("product_generated_failed", false));
        assert!(!suffix.matches("failed_x", false));
        let anywhere = Literal::parse(r"a\.b").unwrap();
        assert!(anywhere.matches("xa.by", false));
        assert!(!anywhere.matches("xaxby", false));
        assert!(anywhere.matches("a.b", true));
        let exact = Literal::parse("^é$").unwrap();
        assert!(exact.matches("é", false));
        assert!(!exact.matches("éé", false));
        assert!(Literal::parse("").unwrap().matches("anything", false));
        assert!(!Literal::parse("").unwrap().matches("anything", true));
        assert!(Literal::parse(r"\$$").unwrap().matches("cost$", false));
    }

    #[test]
    fn anything_else_is_not_literal() {
        for pattern in [
            "a.b", "a*", "a|b", "(a)", "[ab]", "a{2}", "a$b", "^^a", r"\d", r"\p{L}", "a+", "a?", r"a\",
        ] {
            assert_eq!(Literal::parse(pattern), None, "{pattern}");
        }
    }
}
