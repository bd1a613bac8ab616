//! Reading a config file: YAML text → a `serde_yaml::Value` tree, plus the line and
//! column of every node so that every later error can say where it is.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

pub use crate::diagnostics::Location;

/// Where each node of a YAML document starts, keyed by its path
/// (`routes[0].targets[1]`, `targets.consents.url`).
#[derive(Debug, Default)]
pub struct Positions {
    values: HashMap<String, Location>,
    keys: HashMap<String, Location>,
    /// Keys written twice in one mapping: (path, where the repeat is, where the first is).
    duplicates: Vec<(String, Location, Location)>,
}

impl Positions {
    /// Scans `text` for node positions. A scan error yields what was read so far: the
    /// typed parse reports the syntax error itself, with its own location.
    pub fn scan(text: &str) -> Self {
        let mut recorder = Recorder::default();
        let _ = Parser::new_from_str(text).load(&mut recorder, false);
        recorder.positions
    }

    /// Location of the value at `path`, or of its nearest ancestor that has one.
    pub fn value(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(location) = self.values.get(path) {
                return Some(*location);
            }
            path = parent(path)?;
        }
    }

    /// Keys written twice in one mapping: (path, the repeat's location, the first's).
    /// Keys inside a repeated one are not repeats of their own.
    pub fn duplicates(&self) -> Vec<(String, Location, Location)> {
        let inside = |path: &str, outer: &str| {
            path.strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        };
        self.duplicates
            .iter()
            .filter(|(path, ..)| !self.duplicates.iter().any(|(outer, ..)| inside(path, outer)))
            .cloned()
            .collect()
    }

    /// Location of the mapping key that ends `path` (for unknown-key errors), else of
    /// the value or its ancestors.
    pub fn key(&self, path: &str) -> Option<Location> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``, `` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// Joins a mapping key onto a path.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Joins a sequence index onto a path.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

enum Frame {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, next: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    positions: Positions,
}

impl Recorder {
    /// The path of the node about to start, or `None` when it is a mapping key.
    fn next_value_path(&self) -> Option<String> {
        match self.stack.last() {
            None => Some(String::new()),
            Some(Frame::Mapping { key: None, .. }) => None,
            Some(Frame::Mapping { path, key: Some(key) }) => Some(join_key(path, key)),
            Some(Frame::Sequence { path, next }) => Some(join_index(path, *next)),
        }
    }

    /// Marks the current slot of the innermost container as filled.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { key, .. }) => *key = None,
            Some(Frame::Sequence { next, .. }) => *next += 1,
            None => {}
        }
    }

    fn record(&mut self, path: &str, mark: Marker) {
        self.positions
            .values
            .entry(path.to_owned())
            .or_insert_with(|| location(mark));
    }
}

fn location(mark: Marker) -> Location {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Location {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => match self.next_value_path() {
                Some(path) => {
                    self.record(&path, mark);
                    self.value_done();
                }
                None => {
                    if let Some(Frame::Mapping { path, key }) = self.stack.last_mut() {
                        let full = join_key(path, &value);
                        match self.positions.keys.get(&full) {
                            Some(first) => {
                                let first = *first;
                                self.positions.duplicates.push((full, location(mark), first));
                            }
                            None => {
                                self.positions.keys.insert(full, location(mark));
                            }
                        }
                        *key = Some(value);
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.next_value_path() {
                    self.record(&path, mark);
                }
                self.value_done();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A collection used as a mapping key has no useful path; give it a
                // placeholder so its contents do not clobber real entries.
                let path = self
                    .next_value_path()
                    .unwrap_or_else(|| "\u{0}complex-key".to_owned());
                self.record(&path, mark);
                self.stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Mapping { path, key: None }
                } else {
                    Frame::Sequence { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_values_and_keys_by_path() {
        let text = "listen: 0.0.0.0:1\nroutes:\n  - name: a\n    targets: [x, y]\n";
        let positions = Positions::scan(text);
        assert_eq!(positions.value("listen"), Some(Location { line: 1, column: 9 }));
        assert_eq!(
            positions.value("routes[0].name"),
            Some(Location { line: 3, column: 11 })
        );
        assert_eq!(
            positions.key("routes[0].targets"),
            Some(Location { line: 4, column: 5 })
        );
        assert_eq!(
            positions.value("routes[0].targets[1]"),
            Some(Location { line: 4, column: 18 })
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let positions = Positions::scan("targets:\n  a:\n    url: x\n");
        assert_eq!(positions.value("targets.a.timeout"), positions.value("targets.a"));
    }
}
