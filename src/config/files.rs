//! `file:` references (secrets, keys) are read relative to the config file's
//! directory, not the working directory, so a config and the files it names move
//! together and `hookgate serve --config some/dir/hookgate.yaml` works from anywhere.

use std::path::Path;

use serde_yaml::Value;

/// Rewrites every string `file:<relative path>` in `value` to `file:<base>/<path>`.
pub(crate) fn anchor(value: &mut Value, base: &Path) {
    match value {
        Value::String(text) => {
            if let Some(path) = text.strip_prefix("file:") {
                if !path.is_empty() && Path::new(path).is_relative() {
                    *text = format!("file:{}", base.join(path).display());
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|item| anchor(item, base)),
        Value::Mapping(map) => map.values_mut().for_each(|item| anchor(item, base)),
        Value::Tagged(tagged) => anchor(&mut tagged.value, base),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_file_references_are_anchored_and_others_kept() {
        let mut value: Value = serde_yaml::from_str(
            "a: file:keys/k.pem\nb: [file:/abs/k.pem, plain, \"file:\"]\nc: { d: file:../up.pem }\n",
        )
        .unwrap();
        anchor(&mut value, Path::new("/etc/hookgate"));
        let expected: Value = serde_yaml::from_str(
            "a: file:/etc/hookgate/keys/k.pem\nb: [file:/abs/k.pem, plain, \"file:\"]\nc: { d: file:/etc/hookgate/../up.pem }\n",
        )
        .unwrap();
        assert_eq!(value, expected);
    }
}
