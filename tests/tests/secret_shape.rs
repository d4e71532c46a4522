//! How a deployed stage holds its secrets (issue 14): nothing is resolved
//! into a function's environment, each function reads only its own stage's
//! secret, and no stage can be pointed at another stage's (dev) keys.

use qrpay_tests::template::{block, text as template};

/// The names of the template's functions.
fn functions(template: &str) -> Vec<String> {
    qrpay_tests::template::functions(template)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

const SECRET_ID: &str = "QRPAY_SECRET_ID: !Sub \"qrpay/${Stage}\"";
const SECRET_ARN: &str = "Resource: !Sub \"arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:qrpay/${Stage}-??????\"";

/// The functions that read the stage's secret: the ones that sign or verify
/// payment tokens or talk to the providers.
const SECRET_READERS: [&str; 5] = [
    "PayoutRequestFunction",
    "PayoutWorkerFunction",
    "QrIssueFunction",
    "PaymentCallbackFunction",
    // The bill clients' keys (read on the first bill fetch only).
    "ReconcileFunction",
];

#[test]
fn no_secret_is_resolved_into_an_environment() {
    let t = template();
    assert!(!t.contains("resolve:secretsmanager"));
    assert!(!t.contains("{{resolve:"), "no dynamic reference at all");
    // No setting that the secret fills is a function variable any more.
    for function in functions(&t) {
        let lines = block(&t, &function);
        for (_, setting) in qrpay_aws::secrets::SECRET_KEYS {
            assert!(
                !lines
                    .iter()
                    .any(|l| l.trim().starts_with(&format!("{setting}:"))),
                "{function} still sets {setting} in its environment"
            );
        }
    }
}

#[test]
fn the_secret_is_named_after_the_stage_and_nothing_defaults_to_dev() {
    let t = template();
    assert!(
        !t.contains("SecretsName"),
        "no parameter may name the secret"
    );
    assert!(
        !t.contains("qrpay/dev"),
        "no stage may default to dev's keys"
    );
    let mut readers = Vec::new();
    for function in functions(&t) {
        let lines = block(&t, &function);
        let names_secret = lines.iter().any(|l| l.contains("QRPAY_SECRET_ID"));
        if names_secret {
            assert!(
                lines.iter().any(|l| l.trim() == SECRET_ID),
                "{function}: the secret id is not qrpay/${{Stage}}"
            );
            readers.push(function);
        }
    }
    assert_eq!(readers, SECRET_READERS);
}

#[test]
fn each_reader_may_get_only_its_stages_secret() {
    let t = template();
    // Every Secrets Manager permission in the template, wherever it is.
    let actions: Vec<&str> = t
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("secretsmanager:") && !l.contains("arn:aws:secretsmanager"))
        .collect();
    assert_eq!(
        actions,
        vec!["Action: secretsmanager:GetSecretValue"; SECRET_READERS.len()],
        "GetSecretValue only, once per reader"
    );
    for function in functions(&t) {
        let lines = block(&t, &function);
        let position = |needle: &str| lines.iter().position(|l| l.trim() == needle);
        let grant = position("Action: secretsmanager:GetSecretValue");
        if SECRET_READERS.contains(&function.as_str()) {
            let grant = grant.unwrap_or_else(|| panic!("{function} cannot read its secret"));
            // The statement's own resource, right below its action.
            assert_eq!(lines[grant + 1].trim(), SECRET_ARN, "{function}");
            assert_eq!(lines[grant - 2].trim(), "- Sid: StageSecret", "{function}");
        } else {
            assert_eq!(grant, None, "{function} has no business with the secret");
        }
    }
    assert!(!t.contains("secret:*"), "no wildcard secret");
}

#[test]
fn the_template_documents_every_key_the_code_requires() {
    let t = template();
    let doc: String = t
        .lines()
        .skip_while(|l| !l.contains("The stage's secret is named after the stage"))
        .take_while(|l| l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    for (key, _) in qrpay_aws::secrets::SECRET_KEYS {
        assert!(doc.contains(key), "template.yaml does not document {key}");
    }
}

/// POS device secrets are sealed with a key only the two functions that own
/// devices may use: admin-api seals, qr-issue opens, the account only
/// administers it (so no other role can be granted its use), with rotation.
#[test]
fn device_secrets_have_a_key_only_their_owners_may_use() {
    let t = template();
    let key = block(&t, "DeviceSecretKey");
    let key: Vec<&str> = key.iter().map(|l| l.trim()).collect();
    assert!(key.contains(&"Type: AWS::KMS::Key"));
    assert!(key.contains(&"EnableKeyRotation: true"));
    // Each statement: its Sid, then its lines up to the next one.
    let statement = |sid: &str| -> Vec<&str> {
        key.iter()
            .skip_while(|l| **l != format!("- Sid: {sid}"))
            .skip(1)
            .take_while(|l| !l.starts_with("- Sid:") && !l.starts_with("Tags:"))
            .copied()
            .collect()
    };
    let sids: Vec<&str> = key
        .iter()
        .filter_map(|l| l.strip_prefix("- Sid: "))
        .collect();
    assert_eq!(
        sids,
        ["AccountAdministers", "AdminApiSeals", "QrIssueOpens"]
    );
    let admin = statement("AccountAdministers");
    assert!(admin.contains(&"AWS: !Sub \"arn:${AWS::Partition}:iam::${AWS::AccountId}:root\""));
    for usage in [
        "kms:*",
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
    ] {
        assert!(
            !admin.iter().any(|l| l.ends_with(usage)),
            "the account is granted {usage}"
        );
    }
    let seals = statement("AdminApiSeals");
    assert!(seals.contains(&"AWS: !GetAtt AdminApiFunctionRole.Arn"));
    assert!(seals.contains(&"Action: kms:Encrypt"));
    let opens = statement("QrIssueOpens");
    assert!(opens.contains(&"AWS: !GetAtt QrIssueFunctionRole.Arn"));
    assert!(opens.contains(&"Action: kms:Decrypt"));
    for usage in [&seals, &opens] {
        assert!(usage.contains(&"\"kms:EncryptionContext:qrpay:device_id\": \"false\""));
    }
    // The two functions are told the key; no other function is.
    for function in functions(&t) {
        let told = block(&t, &function)
            .iter()
            .any(|l| l.trim() == "DEVICE_KEY_ARN: !GetAtt DeviceSecretKey.Arn");
        let owner = ["AdminApiFunction", "QrIssueFunction"].contains(&function.as_str());
        assert_eq!(told, owner, "{function}");
    }
    assert_eq!(t.matches("DeviceSecretKey.Arn").count(), 2);
}
