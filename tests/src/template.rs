//! `template.yaml` read as text, for the suites that hold the deployed shape
//! and the local-invoke documents to it (no YAML parser: the template's
//! layout is regular, two spaces a level).

use std::path::PathBuf;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The text of `template.yaml`.
pub fn text() -> String {
    let path = root().join("template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of one top-level resource, after its `  Name:` header.
pub fn block<'a>(template: &'a str, resource: &str) -> Vec<&'a str> {
    let header = format!("  {resource}:");
    assert!(
        template.lines().any(|l| l == header),
        "{resource} is not in template.yaml"
    );
    template
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        // The next resource starts at two spaces of indent and a name.
        .take_while(|l| {
            !(l.starts_with("  ") && l[2..].starts_with(|c: char| c.is_ascii_alphabetic()))
        })
        .collect()
}

/// The environment variable names of one resource's `Variables:` block.
pub fn variables_of(template: &str, resource: &str) -> Vec<String> {
    block(template, resource)
        .iter()
        .skip_while(|l| l.trim() != "Variables:")
        .skip(1)
        .take_while(|l| l.starts_with("          "))
        .map(|l| l.trim())
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Every Lambda function: its logical id and the binary SAM builds for it
/// (`Metadata: BuildProperties: Binary:`), in template order.
pub fn functions(template: &str) -> Vec<(String, String)> {
    let names: Vec<&str> = template
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| name.starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect();
    names
        .into_iter()
        .filter(|name| {
            block(template, name)
                .iter()
                .any(|l| l.trim() == "Type: AWS::Serverless::Function")
        })
        .map(|name| {
            let binary = block(template, name)
                .iter()
                .find_map(|l| l.trim().strip_prefix("Binary: "))
                .unwrap_or_else(|| panic!("{name} names no Binary to build"))
                .to_owned();
            (name.to_owned(), binary)
        })
        .collect()
}
