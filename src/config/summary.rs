//! The table `hookgate check` prints: routes, then targets.

use std::fmt::Write;

use crate::registry::{LiveRoute, Snapshot};

/// Renders the routes and targets of `config` as aligned text tables.
pub fn summary(config: &Snapshot) -> String {
    let routes: Vec<[String; 5]> = config
        .routes
        .iter()
        .map(|live| {
            let route = &live.route;
            [
                route.name.clone(),
                route
                    .methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                route.path.clone(),
                route.mode.as_str().to_owned(),
                destinations(live),
            ]
        })
        .collect();
    let targets: Vec<[String; 3]> = config
        .targets
        .iter()
        .map(|target| {
            [
                target.name.clone(),
                target.url.to_string(),
                humantime::format_duration(target.timeout).to_string(),
            ]
        })
        .collect();
    let tls = match &config.settings.tls {
        None => "",
        Some(tls) if tls.client_ca.is_some() => " (TLS; client certificates required)",
        Some(_) => " (TLS)",
    };
    let mut out = format!("config valid: listening on {}{tls}\n\n", config.settings.listen);
    table(&mut out, ["ROUTE", "METHODS", "PATH", "MODE", "TARGETS"], &routes);
    out.push('\n');
    table(&mut out, ["TARGET", "URL", "TIMEOUT"], &targets);
    out
}

/// Where a route's events go: its targets, then those its rules forward to.
fn destinations(live: &LiveRoute) -> String {
    let mut names: Vec<&str> = live.route.targets.iter().map(|t| t.name.as_str()).collect();
    for rule in &live.rules.rules {
        for target in &rule.forward {
            if !names.contains(&target.name.as_str()) {
                names.push(&target.name);
            }
        }
    }
    names.join(", ")
}

fn table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if index + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
