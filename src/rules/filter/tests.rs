//! The compiled evaluator against jsonpath-rust: every expression of the corpus on
//! every event must give the same answer both ways.

use serde_json::{json, Value};

use super::*;

fn parse(expression: &str) -> JpQuery {
    jsonpath_rust::parser::parse_json_path(&format!("$[?{expression}]"))
        .unwrap_or_else(|error| panic!("{expression}: {error}"))
}

fn filter(expression: &str) -> Filter {
    Filter::compile(&parse(expression))
}

/// Expressions the compiler evaluates on the event itself, without jsonpath-rust.
const DIRECT: &[&str] = &[
    "@.eventName == 'consent_authorised'",
    "@.eventName != 'consent_authorised'",
    "@.missing == 'x'",
    "@.missing != 'x'",
    "@.missing == @.absent",
    "@.missing != @.absent",
    "@.missing <= @.absent",
    "@.missing >= @.absent",
    "@.missing < @.absent",
    "@.missing == null",
    "@.nothing == null",
    "@.nothing != null",
    "@.n == 1",
    "@.n == 1.0",
    "@.f == 1",
    "@.f == 1.5",
    "@.n == '1'",
    "@.one == 1",
    "@.n < 2",
    "@.n <= 1",
    "@.n > 0.5",
    "@.n >= 1",
    "@.n > 'a'",
    "@.big > 1e300",
    "@.neg < -1",
    "@.eventName < 'd'",
    "@.eventName > 'consent'",
    "@.eventName >= 'consent_authorised'",
    "@.flag == true",
    "@.flag != false",
    "@.flag < true",
    "@.tags == @.tags",
    "@.tags == @.other",
    "@.obj == @.obj",
    "@.obj.x == 1",
    "@.tags[0] == 'a'",
    "@.tags[-1] == 'c'",
    "@.tags[-3] == 'a'",
    "@.tags[-4] == 'a'",
    "@.tags[3] == 'a'",
    "@.tags[7] == @.tags[8]",
    "@['a.b'] == 'dotted'",
    "@.a.b == 'nested'",
    "@['ünï'] == 'ok'",
    "@.ünï == 'ok'",
    "@['x y'] == 1",
    "@.eventName",
    "@.nothing",
    "@.missing",
    "!@.missing",
    "!@.eventName",
    "@",
    "@.tags[1]",
    "@.tags[-1]",
    "@.tags[5]",
    "@.eventName == 'x' || @.n == 1",
    "@.eventName == 'x' && @.n == 1 || @.flag",
    "@.flag || @.n == 1 && @.eventName == 'x'",
    "(@.flag || @.n == 1) && @.eventName == 'x'",
    "!(@.flag && @.missing)",
    "!(@.flag || @.missing) || @.n == 1",
    "@.n == 1 && (@.missing || !(@.eventName == 'y'))",
    "search(@.eventName, '^consent_')",
    "search(@.eventName, 'sent_auth')",
    "search(@.eventName, 'authorised$')",
    "search(@.eventName, '^consent_authorised$')",
    "search(@.eventName, '')",
    "search(@.eventName, 'x')",
    "search(@.n, '1')",
    "search(@.missing, 'a')",
    "!search(@.eventName, '^consent_')",
    "!search(@.missing, 'a')",
    "match(@.eventName, 'consent_authorised')",
    "match(@.eventName, 'consent')",
    "match(@.eventName, '^consent_authorised$')",
    "match(@.dots, 'a\\\\.b')",
    "match(@['ünï'], 'ok')",
    "length(@.eventName) == 18",
    "length(@.tags) == 3",
    "length(@.obj) == 2",
    "length(@.n) == 1",
    "length(@.missing) == 0",
    "length(@.missing) == @.absent",
    "length(@['ünï']) == 2",
    "length(@.word) == 3",
    "@.sum == 0.3",
    "@.sum > 0.3",
    "count(@.tags) == 1",
    "count(@.missing) == 0",
    "count(@.missing) == @.absent",
    "value(@.n) == 1",
    "value(@.missing) == @.absent",
    "1 == 1",
    "'a' == @.missing",
    "null == @.nothing",
];

/// Patterns that are real regexes, compiled at load as jsonpath-rust builds them on
/// every evaluation: each is decided on the text of every event's `s` (see
/// [`subjects`]) and on the rest of the corpus's events.
const REGEXES: &[&str] = &[
    "search(@.eventName, '^consent_[a-z]+$')",
    "match(@.eventName, 'consent_.*')",
    "match(@.eventName, '(?i)CONSENT_AUTHORISED')",
    "@.n == 1 && search(@.eventName, 'consent_.+')",
    "!match(@.eventName, 'link_.*') || @.flag",
    // classes, quantifiers, alternation
    "match(@.s, '[0-9]{3}')",
    "search(@.s, '[0-9]{3}')",
    "search(@.s, '^[^0-9]+$')",
    "match(@.s, '[a-z]+_[a-z]+')",
    "match(@.s, 'a|b')",
    "search(@.s, 'a|b')",
    "match(@.s, 'ab|a')",
    "match(@.s, '(ab)+')",
    "search(@.s, 'b?c*$')",
    "match(@.s, 'a{1,2}')",
    "search(@.s, '\\\\d+')",
    "match(@.s, '\\\\w+')",
    "search(@.s, '\\\\p{Han}')",
    "match(@.s, '\\\\P{L}*')",
    // anchors inside the pattern, and match() wrapping the whole of it
    "search(@.s, '^a|b$')",
    "match(@.s, '^a|b$')",
    "match(@.s, 'a)(b')",
    "search(@.s, '(?m)^b$')",
    // a dot matches neither \n nor \r, in a class it is a dot
    "match(@.s, 'a.b')",
    "search(@.s, 'a.b')",
    "match(@.s, '.*')",
    "search(@.s, '^.$')",
    "match(@.s, '(?s)a.b')",
    "match(@.s, 'x[.\\r]y')",
    "match(@.s, 'x[a.]y')",
    "match(@.s, 'x[]a.]y')",
    "match(@.s, 'x\\\\.y')",
    "search(@.s, 'x\\\\.[a-z]')",
    "match(@.s, '\\\\[.\\\\]')",
    "match(@.s, 'x\\\\\\\\.y')",
    "match(@.s, 'a\\\\nb')",
    "search(@.s, '\\\\r')",
    // unicode subjects: a dot is one character
    "match(@.s, 'ü.ï.*')",
    "match(@.s, '.{7} .{2}')",
    "match(@.s, '(?i)ÜNÏCØDÉ.*')",
    // non-string subjects and absent ones
    "match(@.n, '[0-9]')",
    "search(@.n, '.')",
    "match(@.nothing, '.*')",
    "search(@.flag, 'tru.')",
    "match(@.tags, '.*')",
    "search(@.obj, '.')",
    "match(@.missing, '.*')",
    "!match(@.missing, '.*')",
    "!search(@.s, '[0-9]+')",
    // invalid patterns: false whatever the subject, true negated
    "match(@.s, '[')",
    "search(@.s, 'a(')",
    "search(@.s, 'a)(b')",
    "search(@.s, 'a{2,1}')",
    "search(@.s, '\\\\')",
    "search(@.s, '*a')",
    "search(@.s, '\\\\p{Nope}')",
    "!search(@.s, '[')",
    "!match(@.missing, '(')",
    "search(@.s, '[') || @.flag",
];

/// Expressions compiled in part: an atom is left to jsonpath-rust, on the event.
const ATOMS: &[&str] = &[
    "search(@.eventName, @.pattern)",
    "search('consent_x', '^consent')",
    "count(@.tags[*]) == 3",
    "count(@.*) > 2",
    "length(@.tags[*]) == 3",
    "value(@.tags[*]) == 'a'",
    "@.tags[*]",
    "@.obj.*",
    "@..x",
    "@.tags[0:2]",
    "@['a.b', 'n']",
    "length('abc') == 3",
    "in(@.eventName, @.tags)",
    "@.n == 1 && search(@.pattern, @.eventName)",
];

/// Expressions evaluated whole by jsonpath-rust, on the wrapped event.
const WRAPPED: &[&str] = &[
    "$[0].n == 1",
    "@.n == $[0].n",
    "$[0].eventName",
    "@.tags[?@ == 'a']",
    "@[?@ == 1]",
    "@..[?@ == 1]",
    "length(!@.n) == 1",
    "value(!@.n) == true",
];

fn events() -> Vec<Value> {
    vec![
        json!({
            "eventName": "consent_authorised",
            "n": 1,
            "one": 1.0,
            "f": 1.5,
            "big": 1e308,
            "neg": -5,
            "flag": true,
            "nothing": null,
            "tags": ["a", "b", "c"],
            "other": ["a", "b", "c"],
            "obj": {"x": 1, "y": [1]},
            "a.b": "dotted",
            "a": {"b": "nested", "x": 1},
            "ünï": "ok",
            "x y": 1,
            "dots": "a.b",
            "pattern": "^consent",
            "word": "ünï",
            "sum": 0.30000000000000004,
        }),
        json!({"eventName": "product_generated_success", "n": 2, "flag": false, "tags": []}),
        json!({"eventName": "link_created", "n": "1", "tags": "abc", "obj": []}),
        json!({"eventName": 42, "n": 1.0000000000000002, "x": {"x": 1}}),
        json!({}),
        json!([1, 2, 3]),
        json!("consent_authorised"),
        json!(1),
        json!(null),
    ]
    .into_iter()
    .chain(subjects().into_iter().map(|s| json!({"s": s})))
    .collect()
}

/// The subjects of the regex corpus.
fn subjects() -> Vec<Value> {
    vec![
        json!("consent_authorised"),
        json!("123"),
        json!("12"),
        json!("a1234b"),
        json!("ab"),
        json!("a"),
        json!("b"),
        json!("abab"),
        json!("aab"),
        json!("xb"),
        json!("bc"),
        json!(""),
        json!("a.b"),
        json!("axb"),
        json!("a\nb"),
        json!("a\rb"),
        json!("a\n"),
        json!("\n"),
        json!("\r"),
        json!("\u{2028}"),
        json!("a\nb\nc"),
        json!("x.y"),
        json!("xay"),
        json!("x]y"),
        json!("x-y"),
        json!("[a]"),
        json!("[\n]"),
        json!("x\ry"),
        json!("x\\ay"),
        json!("ünïcødé 日本"),
        json!("ÜNÏCØDÉ"),
        json!("é"),
        json!("e\u{301}"),
        json!(123),
        json!(1.5),
        json!(true),
        json!(null),
        json!(["a"]),
        json!({"a": "b"}),
    ]
}

#[test]
fn compiled_filters_agree_with_jsonpath_rust() {
    let mut checked = 0;
    for expression in DIRECT.iter().chain(REGEXES).chain(ATOMS).chain(WRAPPED) {
        let query = parse(expression);
        let compiled = Filter::compile(&query);
        for event in events() {
            assert_eq!(
                compiled.matches(&event),
                wrapped(&query, &event),
                "`{expression}` on {event}"
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn simple_expressions_never_reach_jsonpath_rust() {
    fn library_atoms(expr: &Expr) -> usize {
        match expr {
            Expr::Or(exprs) | Expr::And(exprs) => exprs.iter().map(library_atoms).sum(),
            Expr::Not(expr) => library_atoms(expr),
            Expr::Library(_) => 1,
            _ => 0,
        }
    }
    for expression in DIRECT.iter().chain(REGEXES) {
        match &filter(expression).how {
            How::Direct(expr) => assert_eq!(library_atoms(expr), 0, "{expression}"),
            How::Wrapped(_) => panic!("{expression} is wrapped"),
        }
    }
    for expression in ATOMS {
        assert!(filter(expression).is_direct(), "{expression}");
    }
    for expression in WRAPPED {
        assert!(!filter(expression).is_direct(), "{expression}");
    }
}

#[test]
fn semantics_of_note() {
    let event = json!({"n": 1, "s": "1", "nothing": null, "tags": ["a"]});
    let holds = |expression: &str| filter(expression).matches(&event);
    assert!(holds("@.n == 1.0"), "numbers compare as f64");
    assert!(
        filter("@.x == 0.3").matches(&json!({"x": 0.1 + 0.2})),
        "within f64::EPSILON"
    );
    assert!(
        filter("length(@.x) == 3").matches(&json!({"x": "ünï"})),
        "in characters"
    );
    assert!(!holds("@.s == 1"), "a string never equals a number");
    assert!(!holds("@.s < 2") && !holds("@.s > 0"), "nor orders against one");
    assert!(!holds("@.missing == 'x'"), "an absent node equals no value");
    assert!(holds("@.missing == @.absent"), "two absent nodes are equal");
    assert!(holds("@.nothing == null") && !holds("@.missing == null"));
    assert!(holds("@.nothing"), "a null node exists");
    assert!(holds("!@.missing") && !holds("!@.n"));
    assert!(
        holds("@.n == 2 || @.n == 1 && @.s == '1'"),
        "&& binds tighter than ||"
    );
    assert!(!holds("(@.n == 2 || @.n == 1) && @.s == '2'"));
    assert!(holds("@.tags[-1] == 'a'") && !holds("@.tags[-2] == 'a'"));
    assert!(
        !holds("match(@.s, '1') && match(@.n, '1')"),
        "patterns match strings only"
    );
}
