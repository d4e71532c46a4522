//! What a deployed stage may contain (SPEC §9): the sandbox provider never
//! leaves the local stack — no sandbox secret, no sandbox transfer provider,
//! no stage parameter that chooses it — and every function that talks to the
//! providers reads the same provider settings.

use qrpay_tests::template::{text as template, variables_of};

const TRANSFER_SETTINGS: [&str; 9] = [
    "WECHATPAY_MCHID",
    "WECHATPAY_MCH_PRIVATE_KEY",
    "WECHATPAY_PLATFORM_PUBLIC_KEY",
    "WECHATPAY_TRANSFER_SCENE_ID",
    "WECHATPAY_BASE_URL",
    "ALIPAY_APP_ID",
    "ALIPAY_APP_CERT",
    "ALIPAY_GATEWAY_URL",
    "QRPAY_CALLBACK_BASE_URL",
];

#[test]
fn no_stage_has_the_sandbox_anywhere() {
    let template = template();
    for forbidden in [
        "QRPAY_SANDBOX_SECRET",
        "sandbox_secret",
        "PAYOUT_PROVIDER:",
        "  PayoutProvider:",
        "Ref PayoutProvider\n",
        "/sandbox/",
    ] {
        assert!(
            !template.contains(forbidden),
            "template.yaml still mentions {forbidden}"
        );
    }
    for line in template
        .lines()
        .filter(|l| l.to_lowercase().contains("sandbox"))
    {
        // Only prose may mention it: Alipay's own test gateway, and the
        // statement that ours stays local.
        let line = line.trim();
        assert!(
            line.contains("Alipay's own sandbox")
                || line.contains("alipaydev.com")
                || line.contains("no sandbox provider in AWS"),
            "template.yaml: {line}"
        );
    }
}

#[test]
fn payouts_are_requested_and_sent_with_the_same_provider_settings() {
    let template = template();
    let worker = variables_of(&template, "PayoutWorkerFunction");
    let request = variables_of(&template, "PayoutRequestFunction");
    for name in TRANSFER_SETTINGS {
        assert!(
            worker.contains(&name.to_owned()),
            "payout-worker lacks {name}"
        );
    }
    let providers = |vars: &[String]| -> Vec<String> {
        let mut v: Vec<String> = vars
            .iter()
            .filter(|n| {
                ["WECHATPAY_", "ALIPAY_", "DOUYIN_", "QRPAY_CALLBACK"]
                    .iter()
                    .any(|p| n.starts_with(p))
            })
            .cloned()
            .collect();
        v.sort();
        v
    };
    // What payout-request offers is exactly what the worker can deliver.
    assert_eq!(providers(&request), providers(&worker));
}

#[test]
fn the_scan_reads_a_functions_variables() {
    let template = "Resources:\n  AFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          TABLE_NAME: !Ref Table\n          # a comment\n          B: x\n      Policies: []\n  Other:\n    Type: X\n";
    assert_eq!(variables_of(template, "AFunction"), vec!["TABLE_NAME", "B"]);
    assert!(variables_of(template, "Other").is_empty());
}

/// The throttling rate of the first `RouteSettings` after `anchor`.
fn rate_after(template: &str, anchor: &str) -> u32 {
    let start = template
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} is not in template.yaml"));
    let rest = &template[start..];
    let line = rest
        .lines()
        .take(12)
        .find(|l| l.trim_start().starts_with("ThrottlingRateLimit:"))
        .unwrap_or_else(|| panic!("no throttling right after {anchor}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn routes_without_a_jwt_are_throttled_tighter_than_the_default() {
    let template = template();
    let default = rate_after(&template, "DefaultRouteSettings:");
    for anchor in [
        "Path: /pay/{token}\n            # The buyer's link",
        "Method: POST\n            Path: /pay/{token}",
        "Path: /callbacks/{provider}",
        "Path: /devices/{device_id}/qr-codes",
    ] {
        let rate = rate_after(&template, anchor);
        assert!(rate < default, "{anchor}: {rate} is not below {default}");
    }
}

#[test]
fn callbacks_and_payouts_keep_reserved_capacity() {
    let template = template();
    for (function, parameter) in [
        ("PaymentCallbackFunction", "CallbackReservedConcurrency"),
        ("PayoutWorkerFunction", "WorkerReservedConcurrency"),
    ] {
        let start = template.find(&format!("\n  {function}:\n")).unwrap();
        let block: String = template[start + 1..]
            .lines()
            .skip(1)
            .take_while(|l| {
                !(l.starts_with("  ") && l[2..].starts_with(|c: char| c.is_ascii_alphabetic()))
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            block.contains(&format!("ReservedConcurrentExecutions: !Ref {parameter}")),
            "{function} has no reserved concurrency"
        );
    }
    // The queue never drives the worker past what is reserved for it.
    assert!(template.contains("MaximumConcurrency: !Ref WorkerReservedConcurrency"));
}

/// An admin route takes only tokens with the admin scope: `role` is a plain
/// claim, and a merchant token from the same issuer must never reach
/// `/admin/*` (issue 14). Every `/admin/` path is followed by the scope.
#[test]
fn admin_routes_need_the_admin_scope_at_the_authorizer() {
    let t = template();
    let mut admin_routes = 0;
    for (i, _) in t.match_indices("Path: /admin/") {
        admin_routes += 1;
        let route: String = t[i..].lines().take(6).collect::<Vec<_>>().join("\n");
        assert!(
            route.contains("Authorizer: MerchantJwt")
                && route.contains("AuthorizationScopes: [qrpay:admin]"),
            "{route}"
        );
    }
    assert_eq!(admin_routes, 3);
}

/// Every alert code a function can log has a metric filter (its exact code,
/// or a `PREFIX_*` pattern covering it) whose metric raises an alarm, in the
/// log group of the function(s) that raise it: an alert nobody is paged for
/// is a log line nobody reads (issue 14).
#[test]
fn every_alert_code_is_counted_and_alarmed() {
    let t = template();
    let patterns: Vec<String> = t
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("FilterPattern: '{ $.fields.alert = \"")
        })
        .filter_map(|rest| rest.strip_suffix("\" }'"))
        .map(str::to_owned)
        .collect();
    let covered = |code: &str| {
        patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => code.starts_with(prefix),
            None => p == code,
        })
    };
    let missing: Vec<&str> = qrpay_store::alerts::AlertCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|code| !covered(code))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts without a metric filter: {missing:?}"
    );
}

/// The alert topic is encrypted with a key CloudWatch may use (the AWS
/// managed SNS key would silently drop every alarm), and the function that
/// publishes to it may use the key too (issue 14).
#[test]
fn the_alert_topic_is_encrypted_with_a_key_alarms_can_use() {
    let t = template();
    let topic = t.split("  AlertTopic:\n").nth(1).unwrap();
    let topic: String = topic.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(
        topic.contains("KmsMasterKeyId: !Ref AlertTopicKey"),
        "{topic}"
    );
    let key = t.split("  AlertTopicKey:\n").nth(1).unwrap();
    let key = key.split("\n\n").next().unwrap();
    assert!(key.contains("Service: cloudwatch.amazonaws.com"), "{key}");
    assert!(key.contains("EnableKeyRotation: true"), "{key}");
    assert!(
        t.contains("Resource: !GetAtt AlertTopicKey.Arn"),
        "the publisher may use the key"
    );
}

/// The reconcile queue hides a message for six times the function's timeout
/// (AWS's advice for SQS event sources) and lets one redelivery happen
/// before the DLQ alarms (issue 14: a redelivery was a false alarm).
#[test]
fn the_reconcile_queue_outlasts_its_function_and_tolerates_a_redelivery() {
    let t = template();
    let number_after = |anchor: &str, key: &str| -> u32 {
        let block = t.split(anchor).nth(1).unwrap();
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{key} after {anchor}"))
    };
    let timeout = number_after("\n  ReconcileFunction:\n", "Timeout: ");
    let visibility = number_after("\n  ReconcileQueue:\n", "VisibilityTimeout: ");
    let receives = number_after("\n  ReconcileQueue:\n", "maxReceiveCount: ");
    assert!(visibility >= 6 * timeout, "{visibility} < 6 x {timeout}");
    assert!(receives >= 3, "{receives}");
}
