//! Config diagnostics as values: every problem of a config file with its YAML path,
//! line and column. The YAML front end (`config`) collects them; `hookgate check`,
//! startup and reloads (log line and `POST /reload` answer) show them.

use std::fmt;

use serde::Serialize;

/// Line and column (both 1-based) of a node in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem with a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// YAML path of the offending node, e.g. `routes[2].targets[0]`.
    pub path: String,
    /// Where the node starts in the file, when known.
    pub location: Option<Location>,
    /// What was expected and what was found.
    pub message: String,
}

/// Every problem found in one config file, in file order.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
pub struct ConfigErrors {
    /// The file the errors refer to, as given by the user.
    pub file: String,
    /// The problems, at least one.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        writeln!(
            f,
            "{}: {count} error{}",
            self.file,
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            match error.location {
                Some(at) => write!(f, "  {}:{}:{}: ", self.file, at.line, at.column)?,
                None => write!(f, "  {}: ", self.file)?,
            }
            if error.path.is_empty() {
                writeln!(f, "{}", error.message)?;
            } else {
                writeln!(f, "{}: {}", error.path, error.message)?;
            }
        }
        Ok(())
    }
}
