//! `docs/cli.md` is the `--help` of every subcommand, so it cannot drift from the
//! binary. After changing a command, regenerate it with
//! `HOOKGATE_WRITE_DOCS=1 cargo nextest run -E 'test(cli_reference)'`.

use std::process::Command;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["serve"],
    &["check"],
    &["schema"],
    &["sign"],
    &["dlq"],
    &["dlq", "list"],
    &["dlq", "show"],
    &["dlq", "replay"],
    &["dlq", "discard"],
    &["events"],
    &["events", "list"],
    &["events", "show"],
    &["reload"],
    &["health"],
    &["receive"],
];

const INTRO: &str = "# Command line

Every subcommand of `hookgate`, as its `--help` prints it. Options that name an
environment variable (`[env: ...]`) can be set either way; the command line wins.
Exit statuses: 0 success, 1 failure (or, for `health`, not alive/ready), 64 a config
that does not validate.
";

/// What `hookgate <args> --help` prints, with no variable of ours set.
fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .arg("--help")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run hookgate --help");
    assert!(output.status.success(), "hookgate {args:?} --help failed");
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

fn reference() -> String {
    let mut text = INTRO.to_owned();
    for args in COMMANDS {
        let name = std::iter::once("hookgate")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(&format!("\n## `{name}`\n\n```text\n{}```\n", help(args)));
    }
    text
}

#[test]
fn cli_reference_is_the_help_of_every_subcommand() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md");
    let expected = reference();
    if std::env::var_os("HOOKGATE_WRITE_DOCS").is_some() {
        std::fs::write(path, &expected).unwrap();
    }
    let written = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        written == expected,
        "docs/cli.md is not the current --help output; regenerate it with \
         HOOKGATE_WRITE_DOCS=1 cargo nextest run -E 'test(cli_reference)'"
    );
    // Every subcommand the binary has is in the reference.
    let top = help(&[]);
    let listed = top
        .split("Commands:")
        .nth(1)
        .unwrap_or("")
        .split("Options:")
        .next()
        .unwrap_or("");
    for line in listed.lines().filter(|line| !line.trim().is_empty()) {
        let command = line.split_whitespace().next().unwrap();
        if command != "help" {
            assert!(
                COMMANDS.iter().any(|args| args.first() == Some(&command)),
                "`hookgate {command}` is missing from docs/cli.md"
            );
        }
    }
}

/// Every log message `docs/troubleshooting.md` quotes is one hookgate writes, so an
/// operator searching their logs for it finds it.
#[test]
fn the_log_lines_the_docs_quote_exist() {
    let mut sources = String::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let sources = sources.split_whitespace().collect::<Vec<_>>().join(" ");
    for doc in ["troubleshooting.md"] {
        let text = std::fs::read_to_string(format!("{}/docs/{doc}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let quoted: Vec<&str> = text
            .split('`')
            .skip(1)
            .step_by(2)
            .filter_map(|code| code.strip_prefix('"'))
            .filter_map(|code| code.strip_prefix("message\":\"").or(Some(code)))
            .map(|code| code.trim_end_matches('"'))
            .filter(|message| message.len() > 12 && !message.contains("..."))
            .collect();
        assert!(quoted.len() >= 5, "{doc} quotes log lines: {quoted:?}");
        for message in quoted {
            assert!(
                sources.contains(message),
                "{doc} quotes `{message}`, which hookgate never logs"
            );
        }
    }
}
