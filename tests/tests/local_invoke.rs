//! The local-invoke documents stay true (README, "Local invoke"):
//! `events/env.json` has an entry for every function of `template.yaml` with
//! exactly the variables the template gives it (SAM's `--env-vars` sets only
//! variables the template declares, so any other name would be silently
//! ignored), and the README has one `sam local invoke` command for every
//! sample event in `events/`, and none for an event that is not there.

use std::collections::BTreeSet;

use qrpay_tests::template::{functions, root, text, variables_of};
use serde_json::Value;

fn env_json() -> serde_json::Map<String, Value> {
    let path = root().join("events/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("events/env.json is not a JSON object: {other:?}"),
    }
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The sample events of one function, `events/<binary>/*.json` but env.json.
fn events_of(binary: &str) -> Vec<String> {
    let dir = root().join("events").join(binary);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    files
}

#[test]
fn env_json_gives_every_function_exactly_its_template_variables() {
    let template = text();
    let functions = functions(&template);
    assert_eq!(functions.len(), 6, "{functions:?}");
    let env = env_json();
    let ids: BTreeSet<&str> = functions.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(env.keys().map(String::as_str).collect::<BTreeSet<_>>(), ids);
    for (id, _) in &functions {
        let Some(Value::Object(vars)) = env.get(id) else {
            panic!("events/env.json: {id} is not an object");
        };
        // RUST_LOG comes from the template's Globals.
        let mut expected: BTreeSet<String> = variables_of(&template, id).into_iter().collect();
        expected.insert("RUST_LOG".to_owned());
        let got: BTreeSet<String> = vars.keys().cloned().collect();
        assert_eq!(got, expected, "events/env.json: {id}");
        for (name, value) in vars {
            assert!(value.is_string(), "{id}.{name} must be a string");
        }
    }
}

#[test]
fn the_readme_invokes_every_sample_event_and_only_those() {
    let template = text();
    let readme = readme();
    let mut documented = BTreeSet::new();
    for (id, binary) in functions(&template) {
        let events = events_of(&binary);
        assert!(!events.is_empty(), "events/{binary}/ has no sample event");
        for event in events {
            let command = format!(
                "sam local invoke {id} --event events/{binary}/{event} --env-vars events/env.json"
            );
            assert!(readme.contains(&command), "README lacks `{command}`");
            documented.insert(format!("events/{binary}/{event}"));
        }
    }
    // Every event the README invokes exists (no command for a removed file).
    for line in readme.lines().filter(|l| l.contains("sam local invoke ")) {
        if let Some(path) = line
            .split_whitespace()
            .skip_while(|w| *w != "--event")
            .nth(1)
        {
            assert!(
                documented.contains(path),
                "README invokes {path}, not in events/"
            );
        }
    }
    // No events/ folder belongs to no function.
    let folders: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    let binaries: BTreeSet<String> = functions(&template).into_iter().map(|(_, b)| b).collect();
    assert_eq!(folders, binaries);
}

#[test]
fn the_function_scan_finds_ids_and_binaries() {
    let template = "Resources:\n  AFunction:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a-fn\n    Properties:\n      CodeUri: .\n  Table:\n    Type: AWS::DynamoDB::Table\n";
    assert_eq!(
        functions(template),
        vec![("AFunction".to_owned(), "a-fn".to_owned())]
    );
}
