//! What a deployed stage may contain (SPEC §9): the sandbox provider never
//! leaves the local stack — no sandbox secret, no sandbox transfer provider,
//! no stage parameter that chooses it — and every function that talks to the
//! providers reads the same provider settings.

use std::path::PathBuf;

use qrpay_tests::template::{text as template, variables_of};

/// The providers' keys and ids come from the stage's secret
/// (`QRPAY_SECRET_ID`, tests/tests/secret_shape.rs); their endpoints from here.
const TRANSFER_SETTINGS: [&str; 5] = [
    "QRPAY_SECRET_ID",
    "WECHATPAY_BASE_URL",
    "ALIPAY_GATEWAY_URL",
    "DOUYIN_BASE_URL",
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
                [
                    "WECHATPAY_",
                    "ALIPAY_",
                    "DOUYIN_",
                    "QRPAY_CALLBACK",
                    "QRPAY_SECRET",
                ]
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
    assert_eq!(admin_routes, 4);
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

/// The block of one resource: its header line through the line before the
/// next resource (two spaces of indent and a name).
fn resource(t: &str, name: &str) -> String {
    let header = format!("\n  {name}:\n");
    let start = t
        .find(&header)
        .unwrap_or_else(|| panic!("{name} is not in template.yaml"));
    t[start + 1..]
        .lines()
        .enumerate()
        .take_while(|(i, l)| {
            *i == 0
                || !(l.starts_with("  ") && l[2..].starts_with(|c: char| c.is_ascii_alphabetic()))
        })
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names of the resources of one type.
fn resources_of_type(t: &str, kind: &str) -> Vec<String> {
    let lines: Vec<&str> = t.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[1] == format!("    Type: {kind}"))
        .filter_map(|w| w[0].strip_prefix("  ")?.strip_suffix(':'))
        .map(str::to_owned)
        .collect()
}

/// One IAM statement of a function's inline policy: its actions, resources
/// and condition, as the template spells them.
#[derive(Debug)]
struct Statement {
    sid: String,
    actions: Vec<String>,
    resources: Vec<String>,
    condition: String,
}

/// The statements under a function's `Policies:` (`- Sid:` opens each).
fn statements_of(t: &str, function: &str) -> Vec<Statement> {
    let block = resource(t, function);
    let policies = block
        .split("\n      Policies:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{function} has no Policies"));
    let policies = policies.split("\n      Events:\n").next().unwrap();
    policies
        .split("            - Sid: ")
        .skip(1)
        .map(|s| {
            let mut lines = s.lines();
            let sid = lines.next().unwrap().trim().to_owned();
            let (mut actions, mut resources, mut condition) = (vec![], vec![], String::new());
            let mut section = "";
            for line in lines {
                let l = line.trim();
                if l.starts_with('#') {
                    continue;
                }
                if let Some(key) = l.strip_suffix(':').filter(|k| !k.contains(' ')) {
                    if ["Action", "Resource", "Condition"].contains(&key) {
                        section = key;
                        continue;
                    }
                }
                let (key, value) = l.split_once(": ").unwrap_or(("", l));
                match (key, section) {
                    ("Action", _) => actions.push(value.to_owned()),
                    ("Resource", _) => resources.push(value.to_owned()),
                    ("Effect", _) => {}
                    (_, "Action") => actions.push(l.trim_start_matches("- ").to_owned()),
                    (_, "Resource") => resources.push(l.trim_start_matches("- ").to_owned()),
                    (_, "Condition") => condition.push_str(&format!("{l}\n")),
                    _ => {}
                }
            }
            Statement {
                sid,
                actions,
                resources,
                condition,
            }
        })
        .collect()
}

/// The partition keys a statement's `dynamodb:LeadingKeys` allows.
fn leading_keys(statement: &Statement) -> Vec<String> {
    statement
        .condition
        .split("dynamodb:LeadingKeys:")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .skip(1)
                .map_while(|l| l.trim().strip_prefix("- "))
                .map(|v| v.trim_matches('"').to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What reconcile writes and removes lives in its own partitions and under
/// its own report keys: IAM cannot let it overwrite or delete a shop's
/// ledger or payouts (five-year records, `SHOP#…`), nor an input or a
/// locked report version (issue 14: it could delete any item and object).
#[test]
fn reconcile_writes_and_removes_only_its_own_items_and_reports() {
    let t = template();
    let statements = statements_of(&t, "ReconcileFunction");
    assert!(statements.len() >= 5, "{statements:#?}");
    for s in &statements {
        // No wildcard, no version deletes, no say over retention or
        // lifecycle, no batch or update that could reach any item.
        for action in s
            .actions
            .iter()
            .filter(|a| a.starts_with("s3:") || a.starts_with("dynamodb:"))
        {
            assert!(
                !action.contains('*')
                    && !action.ends_with("Version")
                    && !action.contains("Retention")
                    && !action.contains("Lifecycle")
                    && !action.contains("Batch")
                    && action != "dynamodb:UpdateItem",
                "{}: {action}",
                s.sid
            );
        }
        let writes_items = s
            .actions
            .iter()
            .any(|a| ["dynamodb:PutItem", "dynamodb:DeleteItem"].contains(&a.as_str()));
        if writes_items {
            let keys = leading_keys(s);
            assert!(!keys.is_empty(), "{}: item writes on any partition", s.sid);
            for key in &keys {
                // Summaries, once-only alert claims, the day's run lease.
                assert!(
                    ["RECON#", "ONCE#", "LEASE#"]
                        .iter()
                        .any(|p| key.starts_with(p)),
                    "{}: may write partition {key}",
                    s.sid
                );
            }
        }
        if s.actions
            .iter()
            .any(|a| a == "s3:DeleteObject" || a == "s3:PutObject")
        {
            // The bills it fetches are written (never removed) where the
            // run reads them.
            let bills = !s.actions.iter().any(|a| a == "s3:DeleteObject");
            for resource in &s.resources {
                assert!(
                    resource.contains("ReportsBucket.Arn}/reports/")
                        || resource.contains("ReportsBucket.Arn}/runs/")
                        || (bills && resource.contains("ReportsBucket.Arn}/statements/")),
                    "{}: {:?} may write or remove {resource}",
                    s.sid,
                    s.actions
                );
            }
        }
    }
}

/// Every prefix the reconcile function lists (the reports to replace, the
/// bills already fetched, the runs a month's KPIs count) is one its
/// `s3:ListBucket` allows: S3 refuses any other, and only a deployed stage
/// would say so.
#[test]
fn reconcile_may_list_every_prefix_it_lists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut listed = std::collections::BTreeSet::new();
    let mut files = vec![
        root.join("functions/reconcile/src"),
        root.join("shared/reconcile/src"),
    ];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for call in source.split(".list(&").skip(1) {
            let prefix = if let Some(rest) = call.strip_prefix("format!(\"") {
                rest.split('/').next().unwrap().to_owned()
            } else if call.starts_with("reports_prefix(") {
                "reports".to_owned()
            } else {
                panic!(
                    "{}: a listing this test cannot read: .list(&{}",
                    path.display(),
                    &call[..40.min(call.len())]
                );
            };
            listed.insert(prefix);
        }
    }
    assert_eq!(
        listed,
        ["reports", "runs", "statements"].map(String::from).into()
    );
    let t = template();
    let statements = statements_of(&t, "ReconcileFunction");
    let list = statements
        .iter()
        .find(|s| s.actions.iter().any(|a| a == "s3:ListBucket"))
        .expect("reconcile lists the reports bucket");
    for prefix in &listed {
        assert!(
            list.condition.contains(&format!("- \"{prefix}/*\"")),
            "{}: {prefix}/ is listed but not allowed:\n{}",
            list.sid,
            list.condition
        );
    }
}

/// The numbers after `key` in a block.
fn numbers_after(block: &str, key: &str) -> Vec<u32> {
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|v| {
            v.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{key}{v}"))
        })
        .collect()
}

/// Five years of reports, statements and receipts: every version locked by
/// default for at least five years, versioning on, and no lifecycle rule
/// that removes a noncurrent version sooner (issue 14: 90 days).
#[test]
fn the_reports_are_locked_for_five_years() {
    let t = template();
    let bucket = resource(&t, "ReportsBucket");
    assert!(
        bucket.contains("\n      ObjectLockEnabled: true"),
        "{bucket}"
    );
    assert!(
        bucket.contains("        ObjectLockEnabled: Enabled"),
        "{bucket}"
    );
    assert!(
        bucket.contains("Mode: COMPLIANCE") || bucket.contains("Mode: GOVERNANCE"),
        "{bucket}"
    );
    let years = numbers_after(&bucket, "Years: ");
    let days = numbers_after(&bucket, "Days: ");
    assert_eq!(
        years.len() + days.len(),
        1,
        "one default retention: {bucket}"
    );
    assert!(
        years.iter().all(|y| *y >= 5) && days.iter().all(|d| *d >= 1827),
        "{years:?} {days:?}"
    );
    assert!(bucket.contains("VersioningConfiguration:\n        Status: Enabled"));
    let noncurrent = numbers_after(&bucket, "NoncurrentDays: ");
    assert!(!noncurrent.is_empty(), "{bucket}");
    for days in noncurrent
        .iter()
        .chain(&numbers_after(
            &bucket,
            "NoncurrentVersionExpirationInDays: ",
        ))
        .chain(&numbers_after(&bucket, "ExpirationInDays: "))
    {
        assert!(*days >= 1827, "a version goes after {days} days");
    }
    // Stack deletion or replacement never takes the bucket.
    assert!(bucket.contains("DeletionPolicy: Retain"));
    assert!(bucket.contains("UpdateReplacePolicy: Retain"));
}

/// POS requests reach qr-issue through a topic rule with an error action,
/// whose destination raises an alarm (issue 14: a failed hand-over was
/// silent). SAM's `IoTRule` event cannot set one, so none is left.
#[test]
fn the_pos_topic_rule_has_an_error_action_that_alarms() {
    let t = template();
    assert!(
        !t.contains("Type: IoTRule"),
        "a SAM IoTRule event has no error action"
    );
    let rules = resources_of_type(&t, "AWS::IoT::TopicRule");
    assert_eq!(rules.len(), 1, "{rules:?}");
    let rule = resource(&t, &rules[0]);
    assert!(rule.contains("FROM 'pos/+/qr/request'"), "{rule}");
    assert!(
        rule.contains("FunctionArn: !GetAtt QrIssueFunction.Arn"),
        "{rule}"
    );
    let error = rule
        .split("\n        ErrorAction:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no ErrorAction: {rule}"));
    let group = error
        .lines()
        .find_map(|l| l.trim().strip_prefix("LogGroupName: !Ref "))
        .unwrap_or_else(|| panic!("the error action writes to no log group: {error}"));
    // IoT may invoke the function, from this rule only.
    let permissions: Vec<String> = resources_of_type(&t, "AWS::Lambda::Permission")
        .iter()
        .map(|p| resource(&t, p))
        .filter(|p| p.contains("Principal: iot.amazonaws.com"))
        .collect();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    assert!(permissions[0].contains(&format!("SourceArn: !GetAtt {}.Arn", rules[0])));
    assert!(permissions[0].contains("FunctionName: !Ref QrIssueFunction"));
    // Every error line counts into a metric that has an alarm.
    let filter = resources_of_type(&t, "AWS::Logs::MetricFilter")
        .iter()
        .map(|f| resource(&t, f))
        .find(|f| f.contains(&format!("LogGroupName: !Ref {group}\n")))
        .unwrap_or_else(|| panic!("no metric filter on {group}"));
    let metric = filter
        .lines()
        .find_map(|l| l.trim().strip_prefix("MetricName: "))
        .unwrap();
    let alarmed = resources_of_type(&t, "AWS::CloudWatch::Alarm")
        .iter()
        .map(|a| resource(&t, a))
        .any(|a| {
            a.contains(&format!("MetricName: {metric}\n"))
                && a.contains("AlarmActions:\n        - !Ref AlertTopic")
        });
    assert!(alarmed, "no alarm on {metric}");
}

/// Every checkov finding left in the template is skipped with its reason
/// beside it, and so is every cfn-lint check ignored on a resource.
#[test]
fn every_skipped_check_says_why() {
    let t = template();
    let lines: Vec<&str> = t.lines().collect();
    let mut skips = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(id) = line.trim().strip_prefix("- id: ") else {
            continue;
        };
        skips += 1;
        assert!(id.starts_with("CKV_"), "{id}");
        let comment = lines
            .get(i + 1)
            .and_then(|l| l.trim().strip_prefix("comment: "))
            .map(|c| c.trim_matches('"').trim())
            .unwrap_or_default();
        assert!(
            comment.len() >= 20,
            "{id} skipped without a reason: {comment:?}"
        );
    }
    assert!(skips > 0, "no checkov skip found: the scan is wrong");
    for (i, _) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("ignore_checks:"))
    {
        let reason = lines[i.saturating_sub(2)..i]
            .iter()
            .any(|l| l.trim_start().starts_with("# ") && l.len() > 20);
        assert!(
            reason,
            "cfn-lint checks ignored without a reason: {}",
            lines[i]
        );
    }
}

/// The lint step fails on any unskipped checkov finding and on cfn-lint's
/// informational checks, with pinned versions (issue 14).
#[test]
fn the_lint_step_runs_checkov_and_informational_checks() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/lint-template.sh");
    let script = std::fs::read_to_string(&path).unwrap();
    assert!(script.contains("CHECKOV_VERSION=3.3.30\n"));
    assert!(script.contains("\"checkov==$CHECKOV_VERSION\""));
    assert!(script.contains("--framework cloudformation"));
    assert!(!script.contains("--soft-fail"));
    assert!(script.contains("--include-checks I --non-zero-exit-code informational"));
}

/// Every alarm on a business metric names one the code emits, with the
/// dimensions it is emitted with, in the stage's namespace (issue 14).
#[test]
fn business_metric_alarms_watch_metrics_the_code_emits() {
    use qrpay_store::metrics::MetricName;
    let t = template();
    assert!(t.contains("QRPAY_METRICS_NAMESPACE: !Sub \"qrpay/${Stage}\""));
    let watched = [
        ("PayoutsFailedAlarm", MetricName::PayoutsFailed, "payouts"),
        (
            "PayoutsSlowAlarm",
            MetricName::PayoutSecondsToFinal,
            "payouts",
        ),
        (
            "CallbacksRejectedAlarm",
            MetricName::CallbacksRejected,
            "callbacks",
        ),
        (
            "ReconciliationDiscrepanciesAlarm",
            MetricName::ReconciliationDiscrepanciesTotal,
            "reconciliation",
        ),
    ];
    for (alarm, metric, service) in watched {
        let block = resource(&t, alarm);
        assert!(block.contains("Type: AWS::CloudWatch::Alarm"), "{alarm}");
        assert!(
            block.contains("Namespace: !Sub \"qrpay/${Stage}\""),
            "{alarm}"
        );
        assert!(
            block.contains(&format!("MetricName: {}\n", metric.as_str())),
            "{alarm}"
        );
        assert!(
            block.contains(&format!("- Name: service\n          Value: {service}\n")),
            "{alarm}: {block}"
        );
        assert!(block.contains("- !Ref AlertTopic"), "{alarm}");
    }
}
