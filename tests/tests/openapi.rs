//! `infra/openapi.json` kept honest: a well-formed OpenAPI 3.1 document whose
//! deployed operations are exactly the `HttpApi` routes of `template.yaml`
//! (a route added to SAM but not documented, or documented but not deployed,
//! fails here), with the same routes open to callers without a JWT, and
//! whose only local-only operations are the sandbox routes of API.md.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

#[path = "openapi/rules.rs"]
mod rules;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// API.md "Local only: the sandbox provider": served by the local stack, never deployed;
/// and one more of the same kind, the provider's own console (README "Sandbox").
const SANDBOX_ROUTES: [(&str, &str); 6] = [
    ("POST", "/sandbox/qr-codes/{qr_id}/pay"),
    ("PUT", "/sandbox/faults"),
    ("GET", "/sandbox/transfers"),
    ("GET", "/sandbox/bills/{date}"),
    ("POST", "/sandbox/clock"),
    ("POST", "/sandbox/console-refunds"),
];

/// `(METHOD, path)`, as SAM and OpenAPI both spell a route.
type Route = (String, String);

fn repo_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn openapi() -> Value {
    serde_json::from_str(&repo_file("infra/openapi.json"))
        .unwrap_or_else(|e| panic!("infra/openapi.json is not JSON: {e}"))
}

struct Operation<'a> {
    method: String,
    path: &'a str,
    path_item: &'a Value,
    operation: &'a Value,
}

impl Operation<'_> {
    fn route(&self) -> Route {
        (self.method.clone(), self.path.to_owned())
    }

    fn is_local_only(&self) -> bool {
        self.operation.get("x-qrpay-local-only") == Some(&Value::Bool(true))
    }

    /// The operation's own `security`, else the document's.
    fn security<'d>(&'d self, doc: &'d Value) -> &'d [Value] {
        self.operation
            .get("security")
            .or_else(|| doc.get("security"))
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

fn operations(doc: &Value) -> Vec<Operation<'_>> {
    let paths = doc["paths"]
        .as_object()
        .expect("the document has a `paths` object");
    let mut found = Vec::new();
    for (path, path_item) in paths {
        for method in HTTP_METHODS {
            if let Some(operation) = path_item.get(method) {
                found.push(Operation {
                    method: method.to_uppercase(),
                    path,
                    path_item,
                    operation,
                });
            }
        }
    }
    found
}

fn routes<'a>(ops: impl IntoIterator<Item = &'a Operation<'a>>) -> BTreeSet<Route> {
    ops.into_iter().map(Operation::route).collect()
}

/// Follows a local `$ref` (`#/components/...`); other values are returned as they are.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or_else(|| panic!("$ref {reference} does not resolve")),
        None => value,
    }
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference);
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn difference_report(
    left_name: &str,
    left: &BTreeSet<Route>,
    right_name: &str,
    right: &BTreeSet<Route>,
) -> String {
    let only = |a: &BTreeSet<Route>, b: &BTreeSet<Route>| -> Vec<String> {
        a.difference(b).map(|(m, p)| format!("{m} {p}")).collect()
    };
    format!(
        "\n  in {left_name}, not in {right_name}: {:#?}\n  in {right_name}, not in {left_name}: {:#?}\n",
        only(left, right),
        only(right, left)
    )
}

// ---- template.yaml, scanned line by line ------------------------------------------

/// One `Type: HttpApi` event of template.yaml.
#[derive(Debug)]
struct SamRoute {
    method: String,
    path: String,
    /// `Auth: Authorizer: NONE`: no JWT (the handler checks another credential).
    without_authorizer: bool,
    /// The logical id of the resource the event belongs to.
    function: String,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let text = line.trim();
    !text.is_empty() && !text.starts_with('#')
}

/// The value of a `key: value` line, without quotes or a trailing comment.
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let value = line.trim().strip_prefix(key)?.strip_prefix(':')?;
    let value = value.split(" #").next().unwrap_or_default().trim();
    Some(value.trim_matches(|c| c == '"' || c == '\''))
}

/// Every `Type: HttpApi` event: its block is the lines indented at least as
/// deep as its `Type:` line, starting after the event's name.
fn sam_http_routes(template: &str) -> Vec<SamRoute> {
    let lines: Vec<&str> = template.lines().collect();
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if !is_content(line) || value_of(line, "Type") != Some("HttpApi") {
            continue;
        }
        let depth = indent(line);
        let start = lines[..n]
            .iter()
            .rposition(|l| is_content(l) && indent(l) < depth)
            .map_or(0, |name_line| name_line + 1);
        let event = lines[start.saturating_sub(1)].trim();
        // Resources sit at two spaces under `Resources:`.
        let function = lines[..n]
            .iter()
            .rev()
            .find(|l| is_content(l) && indent(l) == 2)
            .map(|l| l.trim().trim_end_matches(':').to_owned())
            .unwrap_or_default();
        let block = lines[start..]
            .iter()
            .take_while(|l| !is_content(l) || indent(l) >= depth);
        let (mut method, mut path, mut without_authorizer) = (None, None, false);
        for l in block.filter(|l| is_content(l)) {
            if let Some(v) = value_of(l, "Method") {
                method = Some(v.to_uppercase());
            } else if let Some(v) = value_of(l, "Path") {
                path = Some(v.to_owned());
            } else if value_of(l, "Authorizer") == Some("NONE") {
                without_authorizer = true;
            }
        }
        found.push(SamRoute {
            method: method.unwrap_or_else(|| panic!("HttpApi event {event} has no Method:")),
            path: path.unwrap_or_else(|| panic!("HttpApi event {event} has no Path:")),
            without_authorizer,
            function,
        });
    }
    found
}

fn sam_routes() -> Vec<SamRoute> {
    let routes = sam_http_routes(&repo_file("template.yaml"));
    assert!(!routes.is_empty(), "template.yaml has no HttpApi events");
    routes
}

#[test]
fn the_template_scan_finds_each_http_event_whatever_its_key_order() {
    let template = r#"
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        First:
          Type: HttpApi   # a comment
          Properties:
            Method: get
            Path: "/a/{id}"
        # Type: HttpApi in a comment is no event
        Second:
          Properties:
            Path: /b
            Method: POST
            Auth:
              Authorizer: NONE
          Type: HttpApi
        Queue:
          Type: SQS
          Properties:
            Queue: q
"#;
    let found: Vec<(String, String, bool)> = sam_http_routes(template)
        .into_iter()
        .map(|r| (r.method, r.path, r.without_authorizer))
        .collect();
    assert_eq!(
        found,
        [
            ("GET".to_owned(), "/a/{id}".to_owned(), false),
            ("POST".to_owned(), "/b".to_owned(), true),
        ]
    );
}

// ---- the document itself -----------------------------------------------------------

#[test]
fn the_document_is_openapi_3_1() {
    let doc = openapi();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("3.1."),
        "openapi is {version:?}, not 3.1.x"
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(
        !operations(&doc).is_empty(),
        "the document has no operations"
    );
}

#[test]
fn operation_ids_are_present_and_unique() {
    let doc = openapi();
    let mut seen = BTreeSet::new();
    for op in operations(&doc) {
        let id = op.operation["operationId"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty(),
            "{} {} has no operationId",
            op.method,
            op.path
        );
        assert!(seen.insert(id), "operationId {id} is used twice");
    }
}

#[test]
fn every_operation_has_a_success_response() {
    let doc = openapi();
    for op in operations(&doc) {
        let responses = op.operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{} {} has no responses", op.method, op.path));
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{} {} has no 2xx response",
            op.method,
            op.path
        );
    }
}

#[test]
fn every_ref_resolves() {
    let doc = openapi();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    let dangling: Vec<&str> = refs
        .into_iter()
        .filter(|r| r.strip_prefix('#').and_then(|p| doc.pointer(p)).is_none())
        .collect();
    assert!(
        dangling.is_empty(),
        "$refs that resolve to nothing: {dangling:#?}"
    );
}

#[test]
fn path_parameters_are_exactly_the_path_templates() {
    let doc = openapi();
    for op in operations(&doc) {
        let in_path: BTreeSet<&str> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = [op.path_item, op.operation]
            .iter()
            .filter_map(|v| v.get("parameters").and_then(Value::as_array))
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{} {}: path parameters are required",
                    op.method, op.path
                );
                p["name"].as_str().unwrap_or_default()
            })
            .collect();
        assert_eq!(in_path, declared, "{} {}", op.method, op.path);
    }
}

// ---- the document against template.yaml ---------------------------------------------

#[test]
fn documented_operations_are_exactly_the_deployed_routes() {
    let doc = openapi();
    let ops = operations(&doc);
    let documented = routes(ops.iter().filter(|op| !op.is_local_only()));
    let sam = sam_routes();
    let deployed: BTreeSet<Route> = sam
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        deployed.len(),
        sam.len(),
        "template.yaml declares a route twice: {sam:#?}"
    );
    assert!(
        documented == deployed,
        "infra/openapi.json and template.yaml disagree:{}",
        difference_report(
            "template.yaml",
            &deployed,
            "infra/openapi.json (not local-only)",
            &documented
        )
    );
}

#[test]
fn local_only_operations_are_exactly_the_sandbox_routes() {
    let doc = openapi();
    let ops = operations(&doc);
    let local_only = routes(ops.iter().filter(|op| op.is_local_only()));
    let sandbox: BTreeSet<Route> = SANDBOX_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert!(
        local_only == sandbox,
        "local-only operations are not the sandbox routes:{}",
        difference_report(
            "API.md sandbox",
            &sandbox,
            "x-qrpay-local-only",
            &local_only
        )
    );
}

#[test]
fn routes_without_a_jwt_are_exactly_those_sam_leaves_without_the_authorizer() {
    let doc = openapi();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerJwt"]["type"], "http");
    assert_eq!(schemes["bearerJwt"]["scheme"], "bearer");
    let ops = operations(&doc);
    for op in &ops {
        let security = op.security(&doc);
        let jwt_only = security.iter().all(|requirement| {
            requirement
                .as_object()
                .is_some_and(|r| r.len() == 1 && r.contains_key("bearerJwt"))
        });
        assert!(
            jwt_only,
            "{} {}: security is bearerJwt or nothing",
            op.method, op.path
        );
        if op.is_local_only() {
            assert!(
                security.is_empty(),
                "{} {}: sandbox routes take no JWT",
                op.method,
                op.path
            );
        }
    }
    let open = routes(
        ops.iter()
            .filter(|op| !op.is_local_only() && op.security(&doc).is_empty()),
    );
    let without_authorizer: BTreeSet<Route> = sam_routes()
        .into_iter()
        .filter(|r| r.without_authorizer)
        .map(|r| (r.method, r.path))
        .collect();
    assert!(
        open == without_authorizer,
        "open routes disagree:{}",
        difference_report(
            "template.yaml (Authorizer: NONE)",
            &without_authorizer,
            "infra/openapi.json (security: [])",
            &open
        )
    );
}

/// Money is a string with two decimals everywhere (API.md), never a JSON number.
#[test]
fn money_is_never_a_json_number() {
    fn is_money(name: &str) -> bool {
        [
            "amount",
            "total",
            "fee",
            "financed",
            "remaining",
            "payout_held",
            "payout_balance",
        ]
        .contains(&name)
            || ["_amount", "_total", "_limit", "_cap"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
    }
    fn allows_number(doc: &Value, schema: &Value) -> bool {
        let schema = resolve(doc, schema);
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        types.iter().any(|t| *t == "number" || *t == "integer")
            || ["oneOf", "anyOf", "allOf"].iter().any(|k| {
                schema[*k]
                    .as_array()
                    .is_some_and(|alts| alts.iter().any(|s| allows_number(doc, s)))
            })
    }
    fn walk(doc: &Value, value: &Value, at: &str, checked: &mut usize) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    for (name, schema) in properties.iter().filter(|(n, _)| is_money(n)) {
                        *checked += 1;
                        assert!(
                            !allows_number(doc, schema),
                            "{at}/properties/{name} allows a JSON number"
                        );
                    }
                }
                for (key, v) in map {
                    walk(doc, v, &format!("{at}/{key}"), checked);
                }
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(doc, v, &format!("{at}/{i}"), checked)),
            _ => {}
        }
    }
    let doc = openapi();
    let mut checked = 0;
    walk(&doc, &doc, "#", &mut checked);
    assert!(checked > 0, "no money fields found to check");
}

/// The local stack serves exactly the documented operations, each with the
/// function that serves it in AWS and with the same credential.
#[test]
fn the_local_stack_routes_are_the_documented_operations_on_the_deployed_functions() {
    use qrpay_local::routes::ROUTES;
    let doc = openapi();
    let ops = operations(&doc);
    let local: BTreeSet<Route> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(local.len(), ROUTES.len(), "a local route is listed twice");
    let documented = routes(ops.iter());
    assert!(
        local == documented,
        "the local stack and infra/openapi.json disagree:{}",
        difference_report(
            "qrpay-local routes",
            &local,
            "infra/openapi.json",
            &documented
        )
    );
    let sam = sam_routes();
    for route in ROUTES {
        let op = ops
            .iter()
            .find(|op| op.method == route.method && op.path == route.path)
            .unwrap_or_else(|| panic!("{} {} undocumented", route.method, route.path));
        assert_eq!(
            route.jwt,
            !op.security(&doc).is_empty(),
            "{} {}: the local JWT check differs from the document",
            route.method,
            route.path
        );
        match route.target.function() {
            Some(function) => {
                let deployed = sam
                    .iter()
                    .find(|s| s.method == route.method && s.path == route.path)
                    .unwrap_or_else(|| {
                        panic!("{} {} not in template.yaml", route.method, route.path)
                    });
                assert_eq!(
                    deployed.function, function,
                    "{} {}: another function serves it in AWS",
                    route.method, route.path
                );
            }
            None => assert!(
                op.is_local_only(),
                "{} {}: only sandbox routes are local-only",
                route.method,
                route.path
            ),
        }
    }
}

/// Issue 14: the document is as strict as the server. Every JSON or form
/// body of ours refuses unknown fields (`additionalProperties: false`, at
/// every level), so a client generated from it cannot send what the server
/// will refuse; the providers' own callback bodies are theirs and marked so.
#[test]
fn request_bodies_refuse_unknown_fields_at_every_level() {
    fn loose<'a>(doc: &'a Value, schema: &'a Value, at: String, out: &mut Vec<String>) {
        let schema = resolve(doc, schema);
        if schema.get("type") == Some(&Value::String("object".into()))
            && schema.get("properties").is_some()
            && schema.get("additionalProperties") != Some(&Value::Bool(false))
        {
            out.push(at.clone());
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                loose(doc, sub, format!("{at}.{name}"), out);
            }
        }
    }
    let doc = openapi();
    let mut found = Vec::new();
    for op in operations(&doc) {
        if op.operation.get("x-qrpay-provider-format") == Some(&Value::Bool(true)) {
            continue;
        }
        let Some(content) = op
            .operation
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (media, body) in content {
            let at = format!("{} {} {media}", op.method, op.path);
            loose(&doc, &body["schema"], at, &mut found);
        }
    }
    assert!(
        found.is_empty(),
        "bodies that accept unknown fields: {found:#?}"
    );
}
