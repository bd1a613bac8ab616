//! A list call's query: its page (`limit`, `offset`), its order (`sort`,
//! `sort_direction`) and its filters, each bad value refused by name.

use super::views::Page;
use super::{bad_parameter, Param, DEFAULT_LIMIT, MAX_LIMIT};
use crate::problem::Problem;
use crate::store::{DeadLetterFilter, DeliveryState, EventFilter};

/// A call's query: page, order and filters.
#[derive(Debug)]
pub(super) struct Query {
    limit: usize,
    offset: usize,
    descending: bool,
    /// Parameters other than paging, as given.
    values: Vec<(String, String)>,
}

/// The deepest page a list may be asked for.
const MAX_OFFSET: usize = 100_000;

impl Query {
    /// Reads `query`, refusing parameters not in `allowed` and bad values, each
    /// named; `sort_key` is what `sort` may name (`-` first: descending).
    pub(super) fn parse(
        query: Option<&str>,
        allowed: &[Param],
        sort_key: &str,
    ) -> Result<Self, Box<Problem>> {
        let mut parsed = Query {
            limit: DEFAULT_LIMIT,
            offset: 0,
            descending: false,
            values: Vec::new(),
        };
        for (name, value) in crate::model::percent::query_pairs(query.unwrap_or("")) {
            if !allowed.iter().any(|param| param.name == name) {
                let known: Vec<&str> = allowed.iter().map(|param| param.name).collect();
                return Err(bad_parameter(
                    &name,
                    if known.is_empty() {
                        "this endpoint takes no query parameters".to_owned()
                    } else {
                        format!("unknown parameter; this endpoint takes: {}", known.join(", "))
                    },
                ));
            }
            match name.as_str() {
                "limit" => match value.parse::<usize>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => parsed.limit = limit,
                    _ => {
                        return Err(bad_parameter(
                            "limit",
                            format!("expected 1 to {MAX_LIMIT}, found `{value}`"),
                        ))
                    }
                },
                "offset" => match value.parse::<usize>() {
                    Ok(offset) if offset <= MAX_OFFSET => parsed.offset = offset,
                    _ => {
                        return Err(bad_parameter(
                            "offset",
                            format!("expected a whole number up to {MAX_OFFSET}, found `{value}`"),
                        ))
                    }
                },
                "sort" => match value.strip_prefix('-') {
                    Some(key) if key == sort_key => parsed.descending = true,
                    None if value == sort_key => parsed.descending = false,
                    _ => {
                        return Err(bad_parameter(
                            "sort",
                            format!("expected `{sort_key}` or `-{sort_key}`, found `{value}`"),
                        ))
                    }
                },
                "sort_direction" => match value.as_str() {
                    "asc" => parsed.descending = false,
                    "desc" => parsed.descending = true,
                    _ => {
                        return Err(bad_parameter(
                            "sort_direction",
                            format!("expected `asc` or `desc`, found `{value}`"),
                        ))
                    }
                },
                _ => parsed.values.push((name, value)),
            }
        }
        Ok(parsed)
    }

    /// The value of parameter `name`, if given.
    pub(super) fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }

    /// The dead-letter filter of the query.
    pub(super) fn dead_letters(&self) -> Result<DeadLetterFilter, Box<Problem>> {
        let time = |name: &str| -> Result<Option<u64>, Box<Problem>> {
            self.value(name)
                .map(|text| crate::dlq::parse_time(text).map_err(|message| bad_parameter(name, message)))
                .transpose()
        };
        Ok(DeadLetterFilter {
            ids: Vec::new(),
            route: self.value("route").map(str::to_owned),
            target: self.value("target").map(str::to_owned),
            since_ms: time("since")?,
            until_ms: time("until")?,
            reason: self.value("reason").map(str::to_owned),
        })
    }

    /// The event filter of the query.
    pub(super) fn events(&self) -> Result<EventFilter, Box<Problem>> {
        let time = |name: &str| -> Result<Option<u64>, Box<Problem>> {
            self.value(name)
                .map(|text| crate::dlq::parse_time(text).map_err(|message| bad_parameter(name, message)))
                .transpose()
        };
        let state = match self.value("state") {
            None => None,
            Some("pending") => Some(DeliveryState::Pending),
            Some("delivered") => Some(DeliveryState::Delivered),
            Some("dead") => Some(DeliveryState::Dead),
            Some(other) => {
                return Err(bad_parameter(
                    "state",
                    format!("expected `pending`, `delivered` or `dead`, found `{other}`"),
                ))
            }
        };
        Ok(EventFilter {
            route: self.value("route").map(str::to_owned),
            since_ms: time("since")?,
            until_ms: time("until")?,
            dedupe_key: self.value("dedupe_key").map(str::to_owned),
            state,
        })
    }

    /// Whether `all=true` was given.
    pub(super) fn all(&self) -> Result<bool, Box<Problem>> {
        match self.value("all") {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(bad_parameter(
                "all",
                format!("expected `true` or `false`, found `{other}`"),
            )),
        }
    }

    /// How many items to read from a store that lists oldest first: up to this page,
    /// and one more to tell whether more follow; newest first reads up to the
    /// deepest page allowed, to turn it around.
    pub(super) fn read(&self) -> usize {
        if self.descending {
            MAX_OFFSET + MAX_LIMIT + 1
        } else {
            self.offset + self.limit + 1
        }
    }

    /// The page this query asks for of `found` (read as [`Query::read`] says,
    /// oldest first), each shown by `view`.
    pub(super) fn window<T, V>(&self, mut found: Vec<T>, view: impl Fn(&T) -> V) -> Page<V> {
        let total = (found.len() < self.read()).then_some(found.len());
        if self.descending {
            found.reverse();
        }
        let has_more = found.len() > self.offset + self.limit;
        let items = found
            .iter()
            .skip(self.offset)
            .take(self.limit)
            .map(view)
            .collect();
        Page {
            items,
            total,
            has_more,
            limit: self.limit,
            offset: self.offset,
        }
    }

    /// The page of `items` this query asks for, ordered by `key`.
    pub(super) fn page<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        items.sort_by_key(|item| key(item));
        if self.descending {
            items.reverse();
        }
        let total = items.len();
        let items: Vec<T> = items.into_iter().skip(self.offset).take(self.limit).collect();
        Page {
            has_more: self.offset + items.len() < total,
            items,
            total: Some(total),
            limit: self.limit,
            offset: self.offset,
        }
    }
}
