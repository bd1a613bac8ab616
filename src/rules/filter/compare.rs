//! Comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`) between literals, nodes of the
//! event and function results, as jsonpath-rust decides them: numbers as `f64`
//! (equal within `f64::EPSILON`), strings by code point, anything else equal only
//! when identical and never ordered. An absent node equals only another absent one.

use std::borrow::Cow;

use jsonpath_rust::parser::model::{Comparison, Literal};
use serde_json::Value;

use crate::rules::singular::Singular;

/// A comparison's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub enum Operand {
    /// A literal.
    Literal(Value),
    /// `@.a.b`, or `value(@.a.b)`.
    Node(Singular),
    /// `length(@.a)`: of a string in characters, of an array or object in items.
    Length(Singular),
    /// `count(@.a)` of a singular query: 1 when the node exists.
    Count(Singular),
}

/// A literal as the value it compares as.
pub fn literal(literal: &Literal) -> Value {
    match literal {
        Literal::Int(int) => Value::from(*int),
        Literal::Float(float) => Value::from(*float),
        Literal::String(text) => Value::from(text.as_str()),
        Literal::Bool(bool) => Value::from(*bool),
        Literal::Null => Value::Null,
    }
}

impl Operator {
    /// The operator of `comparison`.
    pub fn of(comparison: &Comparison) -> Operator {
        match comparison {
            Comparison::Eq(..) => Operator::Eq,
            Comparison::Ne(..) => Operator::Ne,
            Comparison::Lt(..) => Operator::Lt,
            Comparison::Lte(..) => Operator::Lte,
            Comparison::Gt(..) => Operator::Gt,
            Comparison::Gte(..) => Operator::Gte,
        }
    }

    /// `left op right`; `None` is an absent node (or a function without a result).
    pub fn apply(self, left: Option<Cow<'_, Value>>, right: Option<Cow<'_, Value>>) -> bool {
        let (left, right) = (left.as_deref(), right.as_deref());
        match self {
            Operator::Eq => equal(left, right),
            Operator::Ne => !equal(left, right),
            Operator::Lt => less(left, right),
            Operator::Lte => less(left, right) || equal(left, right),
            Operator::Gt => less(right, left),
            Operator::Gte => less(right, left) || equal(left, right),
        }
    }
}

impl Operand {
    /// The value this side has for `event`, if any.
    pub fn eval<'a>(&'a self, event: &'a Value) -> Option<Cow<'a, Value>> {
        match self {
            Operand::Literal(value) => Some(Cow::Borrowed(value)),
            Operand::Node(query) => query.get(event).map(Cow::Borrowed),
            Operand::Length(query) => {
                let length = match query.get(event)? {
                    Value::String(text) => text.chars().count(),
                    Value::Array(items) => items.len(),
                    Value::Object(members) => members.len(),
                    _ => return None,
                };
                Some(Cow::Owned(Value::from(length)))
            }
            Operand::Count(query) => query.get(event).map(|_| Cow::Owned(Value::from(1))),
        }
    }
}

fn equal(left: Option<&Value>, right: Option<&Value>) -> bool {
    match (left, right) {
        (None, None) => true,
        (Some(left), Some(right)) => match (left.as_f64(), right.as_f64()) {
            (Some(left), Some(right)) => (left - right).abs() < f64::EPSILON,
            _ => left == right,
        },
        _ => false,
    }
}

fn less(left: Option<&Value>, right: Option<&Value>) -> bool {
    let (Some(left), Some(right)) = (left, right) else {
        return false;
    };
    match (left.as_f64(), right.as_f64()) {
        (Some(left), Some(right)) => left < right,
        _ => match (left.as_str(), right.as_str()) {
            (Some(left), Some(right)) => left < right,
            _ => false,
        },
    }
}
