//! Each provider's verifier with a matching signer made here, its genuine
//! notices, and what it signs (the payload a mutation works on).

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use qrpay_domain::{PayoutId, Provider, Secret};
use qrpay_provider::callback::TransferFinished;
use qrpay_provider::{kit, NoticeSigner, SandboxTransferStatus, SignedNotice, TransferNotice};
use serde_json::{json, Value};

use super::{events, frame, now, secret, Notices};
use crate::mutate::Shape;

const MCHID: &str = "1900000109";
const APP_ID: &str = "2021000000000001";

/// Signed notices of every event kind, framed.
fn framed(signer: &dyn NoticeSigner, provider: Provider) -> Vec<Vec<u8>> {
    events(provider)
        .iter()
        .map(|e| frame(&signer.sign(e, now())))
        .collect()
}

/// A payload's JSON text as the signed text: a string is taken as it is,
/// anything else is written as JSON.
fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn str_of<'v>(doc: &'v Value, key: &str, default: &'v str) -> &'v str {
    doc.get(key).and_then(Value::as_str).unwrap_or(default)
}

fn transfer(provider: Provider) -> TransferFinished {
    TransferFinished {
        provider,
        notice_id: "ntc-transfer".into(),
        out_bill_no: PayoutId::parse("po_01JQ0000000000000000000007").expect("a valid payout id"),
        provider_ref: "1330000071100999991182020050700019480001".into(),
        amount: qrpay_domain::Amount::from_fen(1230).expect("a valid amount"),
        failure: None,
    }
}

pub fn sandbox() -> Notices {
    let (verifier, signer) = kit::sandbox(secret()).expect("a sandbox pair");
    let mut samples = framed(&signer, Provider::Sandbox);
    let transfer = TransferNotice {
        notice_id: "sbx_ntc_9".into(),
        out_bill_no: PayoutId::parse("po_1").expect("a valid payout id"),
        status: SandboxTransferStatus::Failed {
            reason: "payee account frozen".into(),
        },
        provider_ref: "sbx_tr_9".into(),
        amount: qrpay_domain::Amount::from_fen(1230).expect("a valid amount"),
    };
    samples.push(frame(&signer.sign_transfer(&transfer, now())));
    let payloads = samples
        .iter()
        .map(|s| super::unframe(s).1.to_vec())
        .collect();
    Notices {
        name: "sandbox notice",
        verifier: Box::new(verifier),
        samples,
        payloads,
        shape: Shape::Json,
        seal: Box::new(move |payload| Some(signer.sign_body(payload.to_vec(), now()))),
        signed_in_8: 6,
    }
}

pub fn douyin() -> Notices {
    let (verifier, signer) = kit::douyin(APP_ID, secret()).expect("a douyin pair");
    let samples = framed(&signer, Provider::Douyin);
    // What Douyin signs: the `msg` text, under its `type`.
    let payloads = samples
        .iter()
        .map(|s| {
            let envelope: Value = serde_json::from_slice(super::unframe(s).1).expect("JSON");
            let msg = text_of(envelope.get("msg"));
            let msg = serde_json::from_str::<Value>(&msg).unwrap_or(Value::String(msg));
            json!({"type": envelope["type"], "msg": msg})
                .to_string()
                .into_bytes()
        })
        .collect();
    Notices {
        name: "douyin notice",
        verifier: Box::new(verifier),
        samples,
        payloads,
        shape: Shape::Json,
        seal: Box::new(move |payload| {
            let doc: Value = serde_json::from_slice(payload).ok()?;
            let kind = str_of(&doc, "type", "payment");
            Some(signer.sign_msg(kind, text_of(doc.get("msg")), now()))
        }),
        signed_in_8: 6,
    }
}

pub fn alipay() -> Notices {
    let (verifier, signer) = kit::alipay(APP_ID, kit::rsa_key()).expect("an alipay pair");
    let samples = framed(&signer, Provider::Alipay);
    // What Alipay signs: its parameters, one `key=value` a line.
    let payloads = samples
        .iter()
        .map(|s| {
            form_urlencoded::parse(super::unframe(s).1)
                .filter(|(k, _)| k != "sign")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes()
        })
        .collect();
    Notices {
        name: "alipay notice",
        verifier: Box::new(verifier),
        samples,
        payloads,
        shape: Shape::Delimited {
            line_sep: b'\n',
            cell_sep: b'=',
        },
        seal: Box::new(move |payload| {
            let text = String::from_utf8_lossy(payload);
            let params: Vec<(&str, &str)> = text
                .split('\n')
                .map(|line| line.split_once('=').unwrap_or((line, "")))
                .collect();
            Some(signer.sign_params(&params))
        }),
        signed_in_8: 1,
    }
}

/// The plaintext resource of a genuine WeChat Pay notice.
fn wechat_payload(notice: &SignedNotice, api_v3_key: &Secret) -> Value {
    let envelope: Value = serde_json::from_slice(&notice.body).expect("JSON");
    let resource = &envelope["resource"];
    let field = |k: &str| resource[k].as_str().expect("a resource field").to_owned();
    let cipher = Aes256Gcm::new_from_slice(api_v3_key.expose().as_bytes()).expect("32 bytes");
    let plain = cipher
        .decrypt(
            Nonce::from_slice(field("nonce").as_bytes()),
            Payload {
                msg: &STANDARD.decode(field("ciphertext")).expect("base64"),
                aad: field("associated_data").as_bytes(),
            },
        )
        .expect("a genuine resource decrypts");
    json!({
        "id": envelope["id"],
        "event_type": envelope["event_type"],
        "aad": resource["associated_data"],
        "resource": serde_json::from_slice::<Value>(&plain).expect("JSON resource"),
    })
}

pub fn wechatpay() -> Notices {
    let api_v3_key = secret();
    let (verifier, signer) = kit::wechatpay(
        MCHID,
        "5157F09EFDC096DE15EBE81A47057A72",
        kit::rsa_key(),
        api_v3_key.clone(),
    )
    .expect("a wechat pay pair");
    let mut notices: Vec<SignedNotice> = events(Provider::Wechatpay)
        .iter()
        .map(|e| signer.sign(e, now()))
        .collect();
    notices.push(signer.sign_transfer(&transfer(Provider::Wechatpay), now()));
    let samples = notices.iter().map(frame).collect();
    let payloads = notices
        .iter()
        .map(|n| wechat_payload(n, &api_v3_key).to_string().into_bytes())
        .collect();
    Notices {
        name: "wechatpay notice",
        verifier: Box::new(verifier),
        samples,
        payloads,
        shape: Shape::Json,
        seal: Box::new(move |payload| {
            let doc: Value = serde_json::from_slice(payload).ok()?;
            Some(signer.sign_resource(
                str_of(&doc, "id", "ntc-0"),
                str_of(&doc, "event_type", "TRANSACTION.SUCCESS"),
                text_of(doc.get("resource")).as_bytes(),
                str_of(&doc, "aad", "transaction"),
                now(),
            ))
        }),
        signed_in_8: 1,
    }
}
