//! RFC 9535 filter expressions over an event (`@` is the event), compiled once from
//! jsonpath-rust's parse into an evaluator that reads the event in place: singular
//! queries are direct lookups, `match()`/`search()` patterns are string comparisons
//! when literal and regexes compiled at load otherwise, and `&&`, `||`, `!` and
//! parentheses nest as written. The semantics are jsonpath-rust's (the differential
//! tests hold the two side by side): numbers compare as `f64`, `==` between two
//! absent nodes is true, a comparison with an absent node is otherwise false, a
//! pattern matches strings only and an invalid one matches nothing.
//!
//! What the compiler does not cover is evaluated by jsonpath-rust: an atom of its
//! own (a wildcard `count()`, a pattern that is not a string literal) directly on
//! the event; a whole expression that reads the root (`$`) or holds a nested filter,
//! on the event wrapped as the only item of an array, as filters always were.

mod compare;
mod pattern;
#[cfg(test)]
mod tests;

use jsonpath_rust::parser::model::{
    Comparable, Comparison, Filter as Library, FilterAtom, FnArg, JpQuery, Literal, Segment, Selector,
    SingularQuery, Test, TestFunction,
};
use jsonpath_rust::query::state::State;
use jsonpath_rust::query::Query as _;
use serde_json::Value;

use super::singular::Singular;
use compare::{Operand, Operator};

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    how: How,
}

#[derive(Debug, Clone)]
enum How {
    /// Evaluated on the event itself.
    Direct(Expr),
    /// Evaluated by jsonpath-rust on the event wrapped in an array, so that `$`
    /// means what it always has: that array.
    Wrapped(JpQuery),
}

/// A node of a compiled expression.
#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `@.a.b`: the node exists (null included).
    Exists(Singular),
    /// `left op right`.
    Compare(Operator, Operand, Operand),
    /// `match(@.a, 'text')` (whole) or `search(@.a, '^te[x]t')`.
    Pattern {
        subject: Singular,
        pattern: pattern::Pattern,
        whole: bool,
    },
    /// An atom jsonpath-rust evaluates on the event.
    Library(FilterAtom),
}

/// Why an atom is not compiled.
enum Unsupported {
    /// jsonpath-rust evaluates it on the event itself.
    Atom,
    /// The whole expression must be evaluated on the wrapped event.
    Expression,
}

impl Filter {
    /// Compiles the filter of `query`, which is `$[?expression]` as parsed.
    pub fn compile(query: &JpQuery) -> Filter {
        let direct = match query.segments.as_slice() {
            [Segment::Selector(Selector::Filter(filter))] => expression(filter).ok(),
            _ => None,
        };
        Filter {
            how: direct.map_or_else(|| How::Wrapped(query.clone()), How::Direct),
        }
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Value) -> bool {
        match &self.how {
            How::Direct(expr) => expr.eval(event),
            How::Wrapped(query) => wrapped(query, event),
        }
    }

    /// Whether the filter is evaluated on the event itself (not wrapped).
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        matches!(self.how, How::Direct(_))
    }
}

/// jsonpath-rust's evaluation of the filter `query` (`$[?...]`) on `event`, wrapped
/// as the only item of an array so that `@` is the event.
pub fn wrapped(query: &JpQuery, event: &Value) -> bool {
    let wrapped = Value::Array(vec![event.clone()]);
    jsonpath_rust::query::js_path_process(query, &wrapped).is_ok_and(|hits| !hits.is_empty())
}

fn expression(filter: &Library) -> Result<Expr, Unsupported> {
    Ok(match filter {
        Library::Or(filters) => Expr::Or(filters.iter().map(expression).collect::<Result<_, _>>()?),
        Library::And(filters) => Expr::And(filters.iter().map(expression).collect::<Result<_, _>>()?),
        Library::Atom(atom) => match compile_atom(atom) {
            Ok(expr) => expr,
            Err(Unsupported::Atom) if on_event(atom) => Expr::Library(atom.clone()),
            Err(_) => return Err(Unsupported::Expression),
        },
    })
}

fn compile_atom(atom: &FilterAtom) -> Result<Expr, Unsupported> {
    let not = |expr: Expr, not: bool| if not { Expr::Not(Box::new(expr)) } else { expr };
    match atom {
        FilterAtom::Filter { expr, not: negated } => Ok(not(expression(expr)?, *negated)),
        FilterAtom::Test { expr, not: negated } => Ok(not(test(expr)?, *negated)),
        FilterAtom::Comparison(comparison) => compare(comparison),
    }
}

fn test(test: &Test) -> Result<Expr, Unsupported> {
    match test {
        Test::RelQuery(segments) => Singular::from_segments(segments)
            .map(Expr::Exists)
            .ok_or(Unsupported::Atom),
        Test::Function(function) => match &**function {
            TestFunction::Match(subject, pattern) => regex(subject, pattern, true),
            TestFunction::Search(subject, pattern) => regex(subject, pattern, false),
            _ => Err(Unsupported::Atom),
        },
        Test::AbsQuery(_) => Err(Unsupported::Expression),
    }
}

fn regex(subject: &FnArg, pattern: &FnArg, whole: bool) -> Result<Expr, Unsupported> {
    let subject = node(subject).ok_or(Unsupported::Atom)?;
    let pattern = match pattern {
        FnArg::Literal(Literal::String(text)) => pattern::Pattern::compile(text, whole),
        _ => return Err(Unsupported::Atom),
    };
    Ok(Expr::Pattern {
        subject,
        pattern,
        whole,
    })
}

fn compare(comparison: &Comparison) -> Result<Expr, Unsupported> {
    let (left, right) = comparison.vals();
    Ok(Expr::Compare(
        Operator::of(comparison),
        operand(left)?,
        operand(right)?,
    ))
}

fn operand(comparable: &Comparable) -> Result<Operand, Unsupported> {
    match comparable {
        Comparable::Literal(literal) => Ok(Operand::Literal(compare::literal(literal))),
        Comparable::SingularQuery(SingularQuery::Current(segments)) => {
            Ok(Operand::Node(Singular::from_singular(segments)))
        }
        Comparable::SingularQuery(SingularQuery::Root(_)) => Err(Unsupported::Expression),
        Comparable::Function(function) => match function {
            TestFunction::Length(arg) => node(arg).map(Operand::Length).ok_or(Unsupported::Atom),
            TestFunction::Count(arg) => node(arg).map(Operand::Count).ok_or(Unsupported::Atom),
            TestFunction::Value(arg) => node(arg).map(Operand::Node).ok_or(Unsupported::Atom),
            _ => Err(Unsupported::Atom),
        },
    }
}

/// The singular query a function argument is (`@.a` in `length(@.a)`).
fn node(arg: &FnArg) -> Option<Singular> {
    match arg {
        FnArg::Test(test) => match &**test {
            Test::RelQuery(segments) => Singular::from_segments(segments),
            _ => None,
        },
        _ => None,
    }
}

/// Whether jsonpath-rust evaluates `atom` the same on the event itself as on the
/// event wrapped in an array: it reads no root (`$`, the wrapper) and holds no
/// filter (a filter applied to `@` itself sees where `@` is).
fn on_event(atom: &FilterAtom) -> bool {
    fn segment(one: &Segment) -> bool {
        match one {
            Segment::Selector(selector) => !matches!(selector, Selector::Filter(_)),
            Segment::Selectors(selectors) => !selectors.iter().any(|s| matches!(s, Selector::Filter(_))),
            Segment::Descendant(inner) => segment(inner),
        }
    }
    fn test(test: &Test) -> bool {
        match test {
            Test::RelQuery(segments) => segments.iter().all(segment),
            Test::AbsQuery(_) => false,
            Test::Function(called) => function(called),
        }
    }
    fn arg(arg: &FnArg) -> bool {
        match arg {
            FnArg::Literal(_) => true,
            FnArg::Test(inner) => test(inner),
            FnArg::Filter(_) => false,
        }
    }
    fn function(function: &TestFunction) -> bool {
        match function {
            TestFunction::Custom(_, args) => args.iter().all(arg),
            TestFunction::Length(one) => arg(one),
            TestFunction::Value(one) | TestFunction::Count(one) => arg(one),
            TestFunction::Search(a, b) | TestFunction::Match(a, b) => arg(a) && arg(b),
        }
    }
    fn comparable(comparable: &Comparable) -> bool {
        match comparable {
            Comparable::Literal(_) => true,
            Comparable::SingularQuery(query) => matches!(query, SingularQuery::Current(_)),
            Comparable::Function(inner) => function(inner),
        }
    }
    match atom {
        FilterAtom::Filter { .. } => false,
        FilterAtom::Test { expr, .. } => test(expr),
        FilterAtom::Comparison(comparison) => {
            let (left, right) = comparison.vals();
            comparable(left) && comparable(right)
        }
    }
}

impl Expr {
    fn eval(&self, event: &Value) -> bool {
        match self {
            Expr::Or(exprs) => exprs.iter().any(|expr| expr.eval(event)),
            Expr::And(exprs) => exprs.iter().all(|expr| expr.eval(event)),
            Expr::Not(expr) => !expr.eval(event),
            Expr::Exists(query) => query.get(event).is_some(),
            Expr::Compare(operator, left, right) => operator.apply(left.eval(event), right.eval(event)),
            Expr::Pattern {
                subject,
                pattern,
                whole,
            } => subject
                .get(event)
                .and_then(Value::as_str)
                .is_some_and(|text| pattern.matches(text, *whole)),
            Expr::Library(atom) => atom
                .process(State::root(event))
                .ok_val()
                .and_then(|value| value.as_bool())
                .unwrap_or_default(),
        }
    }
}
