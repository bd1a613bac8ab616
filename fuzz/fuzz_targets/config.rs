//! The config loader: any text, YAML or not, gets a config or located errors, never
//! a panic (`hookgate check` runs exactly this).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name.len() % 2 == 0).then(|| format!("value-of-{name}"));
    if let Err(errors) = hookgate::config::parse(text, "fuzz.yaml", &env) {
        // Rendering the errors (what `check` prints) must not panic either.
        let _ = errors.to_string();
    }
});
