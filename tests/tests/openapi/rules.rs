//! Issue 14: the rules the server enforces are in the document, where a
//! generator (Schemathesis) or a client can read them: control characters as
//! `pattern`s, cross-field rules in the schemas, the 405 every path answers
//! other methods with, and `links` that chain operations correctly.

use std::collections::BTreeSet;

use qrpay_domain::QrDescription;
use qrpay_local::routes::{resolve as resolve_route, Resolution};
use serde_json::Value;

use super::{openapi, operations, resolve, Operation};

/// shared/domain/src/text.rs: `char::is_control`, Unicode category Cc.
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

fn regex(pattern: &str) -> regex_lite::Regex {
    regex_lite::Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))
}

/// `type` is `name`, or a list with it.
fn has_type(schema: &Value, name: &str) -> bool {
    match &schema["type"] {
        Value::String(t) => t == name,
        Value::Array(types) => types.iter().any(|t| t == name),
        _ => false,
    }
}

/// Every string schema of a request body (ours, not a provider's format),
/// with where it is; `$ref`s followed, `allOf`/`oneOf`/`anyOf` walked.
fn request_strings(doc: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(doc: &'a Value, schema: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        let schema = resolve(doc, schema);
        if has_type(schema, "string") {
            out.push((at.clone(), schema));
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                walk(doc, sub, format!("{at}.{name}"), out);
            }
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for (i, sub) in schema[key].as_array().into_iter().flatten().enumerate() {
                walk(doc, sub, format!("{at}<{key}{i}>"), out);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(doc, items, format!("{at}[]"), out);
        }
        if let Some(extra @ Value::Object(_)) = schema.get("additionalProperties") {
            walk(doc, extra, format!("{at}{{}}"), out);
        }
    }
    let mut out = Vec::new();
    for op in operations(doc) {
        if op.operation.get("x-qrpay-provider-format") == Some(&Value::Bool(true)) {
            continue;
        }
        let content = op.operation.pointer("/requestBody/content");
        for (media, body) in content.and_then(Value::as_object).into_iter().flatten() {
            let at = format!("{} {} {media}", op.method, op.path);
            walk(doc, &body["schema"], at, &mut out);
        }
    }
    out
}

#[test]
fn the_control_character_pattern_is_exactly_the_servers_rule() {
    let pattern = regex(NO_CONTROL);
    // Every character of the Basic Multilingual Plane and a sample beyond.
    let chars = (0u32..=0xFFFF).chain([0x1_0000, 0x1_F600, 0x10_FFFF]);
    let mut refused = 0;
    for c in chars.filter_map(char::from_u32) {
        let text = format!("a{c}b");
        let server = QrDescription::parse(&text).is_ok();
        assert_eq!(pattern.is_match(&text), server, "U+{:04X}", c as u32);
        refused += usize::from(!server);
    }
    // C0 (32), DEL, C1 (32).
    assert_eq!(refused, 65);
    assert!(pattern.is_match("茶小铺 · 演示店") && pattern.is_match(""));
}

/// Every free-text field the server reads through `Fields::optional_str` /
/// `required_str` refuses control characters: its schema says so with the
/// pattern. Other request strings are closed by an enum or a stricter
/// pattern of their own.
#[test]
fn every_request_string_has_a_pattern_or_an_enum() {
    let doc = openapi();
    let strings = request_strings(&doc);
    let free_text: BTreeSet<&str> = strings
        .iter()
        .filter(|(_, s)| s["pattern"] == NO_CONTROL)
        .map(|(at, _)| at.as_str())
        .collect();
    for expected in [
        "PUT /admin/shops/{shop_id} application/json.name",
        "PUT /admin/shops/{shop_id} application/json.display_name",
        "PUT /admin/devices/{device_id} application/json.secret",
        "POST /shops/{shop_id}/qr-codes application/json.description",
        "POST /devices/{device_id}/qr-codes application/json.description",
        "POST /shops/{shop_id}/orders/{order_id}/payouts application/json.note",
        "POST /shops/{shop_id}/orders/{order_id}/refunds application/json.reason",
        "POST /sandbox/qr-codes/{qr_id}/pay application/json.payer.name",
        "POST /sandbox/qr-codes/{qr_id}/pay application/json.payer.phone",
    ] {
        assert!(
            free_text.contains(expected),
            "{expected} lacks the control-character pattern; found {free_text:#?}"
        );
    }
    let open: Vec<&str> = strings
        .iter()
        .filter(|(_, s)| s.get("pattern").is_none() && s.get("enum").is_none())
        .map(|(at, _)| at.as_str())
        .collect();
    assert!(
        open.is_empty(),
        "request strings with no pattern or enum: {open:#?}"
    );
    // Every pattern compiles as the ECMA-262 subset both regex engines share.
    for (at, s) in &strings {
        if let Some(p) = s["pattern"].as_str() {
            regex(p);
        } else {
            assert!(s["enum"].is_array(), "{at}");
        }
    }
}

/// `ProcessingRate`'s pattern is `ProcessingRate::parse`, exactly: every
/// spelling around the 5% cap, and the lenient decimal forms it refuses.
#[test]
fn the_processing_rate_pattern_is_the_servers_rule() {
    let doc = openapi();
    let pattern = regex(
        doc["components"]["schemas"]["ProcessingRate"]["pattern"]
            .as_str()
            .expect("ProcessingRate has a pattern"),
    );
    let mut texts: Vec<String> = [
        "0", "0.", ".006", "00.006", "000", "0.0060", "0.006", "0.05", "0.050", "0.0500", "0.0501",
        "0.0510", "0.06", "0.1", "0.6", "0.00601", "1", "0.0e1", "-0.006", "0.006 ",
    ]
    .map(str::to_owned)
    .to_vec();
    // Every rate with up to 4 decimals around the cap.
    texts.extend((0..=700).map(|n| format!("0.{n:04}")));
    texts.extend((0..=70).map(|n| format!("0.{n:03}")));
    texts.extend((0..=9).map(|n| format!("0.{n}")));
    texts.extend((0..=99).map(|n| format!("0.{n:02}")));
    for text in &texts {
        let server = qrpay_domain::ProcessingRate::parse(text).is_ok();
        assert_eq!(pattern.is_match(text), server, "{text:?}");
    }
}

/// `receipt_link`'s pattern is `ShopLink::parse`: https, then a plain DNS
/// host.
#[test]
fn the_receipt_link_pattern_is_the_servers_rule() {
    let doc = openapi();
    let link = &doc["components"]["schemas"]["ShopSetup"]["properties"]["receipt_link"];
    let pattern = regex(
        link["pattern"]
            .as_str()
            .expect("receipt_link has a pattern"),
    );
    let (longest_label, too_long_label) = (
        format!("https://{}.cn/", "a".repeat(63)),
        format!("https://{}.cn/", "a".repeat(64)),
    );
    for text in [
        "https://tea.example.cn/menu",
        "https://a",
        "https:///Iu",
        "https://",
        "http://tea.example.cn",
        "https://tea.example.cn/a b",
        "https://tea.example.cn/\"x\"",
        "https://茶.cn",
        "https://[x",
        "https://[::1]/",
        "https://bank.example@evil.example/",
        "https://shop.example.cn:8443/",
        "https://shop..cn/",
        "https://-shop.cn/",
        "https://shop-.cn?x",
        "https://shop.cn./",
        "https://?q",
        "https://Shop-1.example.CN",
        "https://shop.example.cn?from=receipt",
        "https://shop.example.cn#menu",
        "https://tea.example.cn/a[1]?b=c&d=%20#e",
        longest_label.as_str(),
        too_long_label.as_str(),
    ] {
        let server = qrpay_domain::ShopLink::parse(text).is_ok();
        assert_eq!(pattern.is_match(text), server, "{text:?}");
    }
}

#[test]
fn a_blank_display_name_is_refused_by_the_schema() {
    let doc = openapi();
    let name = &doc["components"]["schemas"]["ShopSetup"]["properties"]["display_name"];
    // `type` in the `not`, or a null (an absent name) would be refused too.
    assert_eq!(name["not"]["type"], "string");
    let blank = regex(
        name["not"]["pattern"]
            .as_str()
            .expect("display_name has a `not` pattern"),
    );
    for text in ["", " ", "\u{3000}\u{a0} "] {
        assert!(blank.is_match(text), "{text:?} is blank");
    }
    for text in ["茶", " a ", "\u{3000}茶"] {
        assert!(!blank.is_match(text), "{text:?} is not blank");
    }
}

#[test]
fn cross_field_rules_are_in_the_schemas() {
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let rules = |name: &str| -> Vec<String> {
        schemas[name]["x-qrpay-cross-field-rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} lists no cross-field rules"))
            .iter()
            .map(|r| r.as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let described = |name: &str, words: &[&str]| {
        let text = schemas[name]["description"].as_str().unwrap_or_default();
        for word in words {
            assert!(
                text.contains(word),
                "{name}'s description lacks {word:?}: {text}"
            );
        }
    };
    assert_eq!(
        rules("PayoutQuotaRequest"),
        ["per_payout_limit <= daily_limit"]
    );
    described(
        "PayoutQuotaRequest",
        &["`per_payout_limit` is not above `daily_limit`", "400"],
    );
    assert!(rules("CheckoutRequest")[0].starts_with("a static code needs amount and method"));
    described(
        "CheckoutRequest",
        &["a static code needs `amount` and `method`"],
    );
    described(
        "ShopSetup",
        &["`payout_balance` is accepted only when the shop does not exist"],
    );
    described(
        "DeviceSetup",
        &["16-128 bytes of UTF-8", "404 SHOP_NOT_FOUND"],
    );
    // What JSON Schema can say, it says: a dynamic code needs its amount and
    // order number; a static code takes neither, nor a provider.
    let issue = &schemas["QrIssueRequest"];
    assert_eq!(rules("QrIssueRequest").len(), 3);
    assert_eq!(issue["if"]["properties"]["kind"]["const"], "dynamic");
    let then: BTreeSet<&str> = issue["then"]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(then.is_superset(&BTreeSet::from(["amount", "out_order_no"])));
    for field in ["amount", "out_order_no"] {
        assert_eq!(
            issue["then"]["properties"][field]["not"]["type"], "null",
            "{field}"
        );
    }
    let refused: BTreeSet<&str> = issue["else"]["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, s)| s["type"] == "null")
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        refused,
        BTreeSet::from(["amount", "out_order_no", "provider"])
    );
    let faults = super::operations(&doc)
        .into_iter()
        .find(|op| op.path == "/sandbox/faults")
        .map(|op| op.operation["requestBody"]["content"]["application/json"]["schema"].clone())
        .expect("PUT /sandbox/faults");
    assert_eq!(
        faults["x-qrpay-cross-field-rules"][0],
        "transfer_fail_rate + transfer_timeout_rate <= 1"
    );
    let form = &schemas["CheckoutForm"];
    assert_eq!(form["required"], serde_json::json!(["method"]));
}

/// A JSON null is an absent field (the functions' `Fields`): every optional
/// property of our request bodies admits it, every required one does not.
#[test]
fn optional_body_properties_admit_null_and_required_ones_do_not() {
    fn admits_null(doc: &Value, schema: &Value) -> bool {
        let schema = resolve(doc, schema);
        has_type(schema, "null")
            || schema["anyOf"]
                .as_array()
                .is_some_and(|alts| alts.iter().any(|s| admits_null(doc, s)))
    }
    fn walk(doc: &Value, schema: &Value, at: &str, checked: &mut usize) {
        let schema = resolve(doc, schema);
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
            let optional = !required.contains(name.as_str());
            assert_eq!(admits_null(doc, sub), optional, "{at}.{name}");
            *checked += 1;
            walk(doc, sub, &format!("{at}.{name}"), checked);
            for alt in sub["anyOf"].as_array().into_iter().flatten() {
                walk(doc, alt, &format!("{at}.{name}"), checked);
            }
        }
    }
    let doc = openapi();
    let mut checked = 0;
    for op in operations(&doc) {
        if op.operation.get("x-qrpay-provider-format") == Some(&Value::Bool(true)) {
            continue;
        }
        if let Some(schema) = op
            .operation
            .pointer("/requestBody/content/application~1json/schema")
        {
            walk(
                &doc,
                schema,
                &format!("{} {}", op.method, op.path),
                &mut checked,
            );
        }
    }
    assert!(checked > 30, "only {checked} properties checked");
}

/// The methods a path has in the document.
fn documented_methods(doc: &Value, path: &str) -> BTreeSet<String> {
    operations(doc)
        .into_iter()
        .filter(|op| op.path == path)
        .map(|op| op.method)
        .collect()
}

/// A concrete path for a template (every parameter `x1`, a token that parses).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| match s {
            "{token}" => "v1.x1.x1.x1",
            s if s.starts_with('{') => "x1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_path_answers_other_methods_405_with_allow_as_documented() {
    let doc = openapi();
    let allow = &doc["components"]["headers"]["Allow"];
    assert_eq!(allow["required"], true);
    let allow_pattern = regex(
        allow["schema"]["pattern"]
            .as_str()
            .expect("Allow has a pattern"),
    );
    let component = &doc["components"]["responses"]["MethodNotAllowed"];
    assert_eq!(
        component["headers"]["Allow"]["$ref"],
        "#/components/headers/Allow"
    );
    for op in operations(&doc) {
        assert_eq!(
            op.operation["responses"]["405"]["$ref"], "#/components/responses/MethodNotAllowed",
            "{} {} does not document its path's 405",
            op.method, op.path
        );
    }
    let paths: BTreeSet<&str> = operations(&doc).iter().map(|op| op.path).collect();
    for path in paths {
        let documented = documented_methods(&doc, path);
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
            if documented.contains(method) {
                continue;
            }
            let Resolution::WrongMethod(allowed) = resolve_route(method, &concrete(path)) else {
                panic!("{method} {path}: the local stack does not answer 405");
            };
            let header = allowed.join(", ");
            assert!(allow_pattern.is_match(&header), "{path}: Allow {header:?}");
            let allowed: BTreeSet<String> = allowed.iter().map(|m| (*m).to_owned()).collect();
            assert_eq!(
                allowed, documented,
                "{method} {path}: Allow is not the path's methods"
            );
        }
    }
}

/// A response's JSON schema, with `$ref`s followed.
fn response_schema<'a>(doc: &'a Value, op: &'a Operation<'a>, status: &str) -> &'a Value {
    let response = resolve(doc, &op.operation["responses"][status]);
    resolve(doc, &response["content"]["application/json"]["schema"])
}

fn parameters<'a>(doc: &'a Value, op: &Operation<'a>) -> Vec<&'a Value> {
    [op.path_item, op.operation]
        .iter()
        .filter_map(|v| v.get("parameters").and_then(Value::as_array))
        .flatten()
        .map(|p| resolve(doc, p))
        .collect()
}

/// Each link names a real operation, fills exactly its path parameters, and
/// takes each value from a field the answer always has (`required`) or from
/// the request's own path.
#[test]
fn links_chain_real_operations_through_fields_that_are_always_there() {
    let doc = openapi();
    let ops = operations(&doc);
    let by_id = |id: &str| {
        ops.iter()
            .find(|op| op.operation["operationId"] == id)
            .unwrap_or_else(|| panic!("a link names operationId {id}, which does not exist"))
    };
    let mut found = BTreeSet::new();
    for source in &ops {
        let responses = source.operation["responses"]
            .as_object()
            .into_iter()
            .flatten();
        for (status, response) in responses {
            let links = resolve(&doc, response)
                .get("links")
                .and_then(Value::as_object);
            for (name, link) in links.into_iter().flatten() {
                let at = format!("{} {} {status} {name}", source.method, source.path);
                let target_id = link["operationId"].as_str().unwrap_or_default();
                let target = by_id(target_id);
                let filled: BTreeSet<&str> = link["parameters"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: no parameters"))
                    .keys()
                    .map(String::as_str)
                    .collect();
                let target_path: BTreeSet<&str> = parameters(&doc, target)
                    .into_iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert_eq!(
                    filled, target_path,
                    "{at}: must fill exactly {target_id}'s path"
                );
                let required = &response_schema(&doc, source, status)["required"];
                let source_path: Vec<&str> = parameters(&doc, source)
                    .into_iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for (param, expression) in link["parameters"].as_object().into_iter().flatten() {
                    let expression = expression.as_str().unwrap_or_default();
                    if let Some(field) = expression.strip_prefix("$response.body#/") {
                        assert!(
                            required
                                .as_array()
                                .is_some_and(|r| r.contains(&Value::from(field))),
                            "{at}: {param} from {field}, which the answer may lack"
                        );
                    } else if let Some(name) = expression.strip_prefix("$request.path.") {
                        assert!(
                            source_path.contains(&name),
                            "{at}: no path parameter {name}"
                        );
                    } else {
                        panic!(
                            "{at}: {param} = {expression:?} is not a body field or path parameter"
                        );
                    }
                }
                found.insert((
                    source.operation["operationId"].as_str().unwrap_or_default(),
                    target_id,
                ));
            }
        }
    }
    for expected in [
        ("issueQrCode", "getQrCode"),
        ("createPayout", "getPayout"),
        ("createRefund", "listOrderRefunds"),
        ("checkout", "getOrder"),
        ("getOrder", "createPayout"),
    ] {
        assert!(
            found.contains(&expected),
            "no link {expected:?}; found {found:#?}"
        );
    }
}
