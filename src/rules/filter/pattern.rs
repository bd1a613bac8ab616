//! The patterns of `match()` and `search()`, compiled once at load. Plain text, at
//! most anchored (`^consent_`, `_failed$`, `^link_created$`), is matched as a string
//! comparison; any other pattern is a regex built exactly as jsonpath-rust builds it
//! on every evaluation (see [`translate`]).

use regex::Regex;

/// A compiled `match()` or `search()` pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Literal text, optionally anchored.
    Literal(Literal),
    /// A regex, already translated (and anchored for `match()`).
    Regex(Regex),
    /// A pattern the regex crate refuses: jsonpath-rust answers false for it, as
    /// RFC 9535 does for a second argument that is not a valid I-Regexp.
    Invalid,
}

impl Pattern {
    /// Compiles `pattern` for `match()` (`whole`) or `search()`.
    pub fn compile(pattern: &str, whole: bool) -> Pattern {
        match Literal::parse(pattern) {
            Some(literal) => Pattern::Literal(literal),
            None => Regex::new(&translate(pattern, whole)).map_or(Pattern::Invalid, Pattern::Regex),
        }
    }

    /// Whether `subject` matches, as a whole (`match()`) or anywhere in it
    /// (`search()`); `whole` is the one the pattern was compiled for.
    pub fn matches(&self, subject: &str, whole: bool) -> bool {
        match self {
            Pattern::Literal(literal) => literal.matches(subject, whole),
            Pattern::Regex(regex) => regex.is_match(subject),
            Pattern::Invalid => false,
        }
    }
}

/// An I-Regexp (RFC 9485) in the regex crate's syntax, character for character as
/// jsonpath-rust 1.0 translates it (`prepare_regex` in its `query/test_function.rs`),
/// so that both decide every subject alike: `.` outside a class becomes `[^\n\r]`
/// (an I-Regexp dot matches neither line break; the crate's matches `\r`), an escape
/// is copied with the character it escapes, a class ends at its first `]` (so `[]a.]`
/// reads as `[]a[^\n\r]]`), and `match()` anchors the whole pattern as `^(?:…)$`, so
/// that `a|b` does not match `ab`.
fn translate(pattern: &str, whole: bool) -> String {
    let mut translated = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                translated.push(c);
                if let Some(escaped) = chars.next() {
                    translated.push(escaped);
                }
            }
            '[' if !in_class => {
                in_class = true;
                translated.push(c);
            }
            ']' if in_class => {
                in_class = false;
                translated.push(c);
            }
            '.' if !in_class => translated.push_str(r"[^\n\r]"),
            c => translated.push(c),
        }
    }
    if whole {
        format!("^(?:{translated})$")
    } else {
        translated
    }
}

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
    fn regexes_are_translated_as_jsonpath_rust_does() {
        assert_eq!(translate("a.b", false), r"a[^\n\r]b");
        assert_eq!(translate("a|b", true), "^(?:a|b)$");
        assert_eq!(translate(r"x[.\]]\.y", false), r"x[.\]]\.y");
        assert_eq!(
            translate("[]a.]", false),
            r"[]a[^\n\r]]",
            "the first ] closes a class"
        );
        let dot = Pattern::compile("^.$", false);
        assert!(dot.matches("é", false) && !dot.matches("\r", false) && !dot.matches("\n", false));
        let either = Pattern::compile("a|b", true);
        assert!(either.matches("b", true) && !either.matches("ab", true));
        assert!(matches!(
            Pattern::compile("^consent_", false),
            Pattern::Literal(_)
        ));
        assert!(
            matches!(Pattern::compile("a)(b", true), Pattern::Regex(_)),
            "^(?:a)(b)$"
        );
        for invalid in ["a)(b", "[", "a{2,1}", "\\", "*a"] {
            assert!(
                matches!(Pattern::compile(invalid, false), Pattern::Invalid),
                "{invalid}"
            );
        }
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
