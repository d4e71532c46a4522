//! Issuing a code (SPEC §3), the same for merchants, POS devices over HTTPS
//! and POS devices over IoT: parse the body into a `QrIssue`, make the plan,
//! sign the payment link, build the EMV payload, and let the store claim
//! `(shop, out_order_no)` atomically with the code and its order.

use chrono::{DateTime, Utc};
use qrpay_domain::instalment::{offered_rate, plan, InstalmentPlan};
use qrpay_domain::qr::{MAX_DESCRIPTION_CHARS, MAX_EXPIRY_S};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    DeviceId, InstalmentError, Order, OrderId, OutOrderNo, PlanPeriods, Provider, QrCode,
    QrDescription, QrId, QrIssue, QrKind, QrState, QrStatus, Shop, ShopId,
};
use qrpay_http::{ApiError, ErrorCode, Fields};
use qrpay_qr::{emv, render, token};
use qrpay_store::Issued;
use serde_json::{json, Value};

use crate::{provider_code, App};

/// Largest issue body accepted.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// EMV tag 60 wants a city; shops do not give one, so the country stands in.
const MERCHANT_CITY: &str = "CHINA";

const FIELDS: [&str; 8] = [
    "kind",
    "provider",
    "amount",
    "out_order_no",
    "description",
    "device_id",
    "expires_in_s",
    "instalments",
];

/// An issued (or re-issued) code and how to answer for it.
pub struct IssueOutcome {
    pub replayed: bool,
    pub body: Value,
}

/// Issues a code for `shop_id`. `pos_device` is the device that asked (POS
/// over HTTPS or IoT): the code is bound to it and the body may not name another.
pub async fn issue(
    app: &App,
    shop_id: &ShopId,
    fields: &Fields,
    pos_device: Option<&DeviceId>,
) -> Result<IssueOutcome, ApiError> {
    let request = parse(fields, pos_device)?;
    let shop = app
        .shops
        .get_shop(shop_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))?;
    if let (Some(device_id), None) = (&request.device_id, pos_device) {
        let device = app.shops.get_device(device_id).await?;
        if device.is_none_or(|d| d.shop_id != shop.shop_id) {
            return Err(ApiError::new(
                ErrorCode::DeviceNotFound,
                "no such device in this shop",
            ));
        }
    }
    let instalment_plan = plan_for(&request, &shop)?;
    // Refused before anything is written: the stage must offer it.
    let provider = request
        .provider
        .map(|p| provider_code::gateway_for(app, p, instalment_plan.as_ref()))
        .transpose()?;
    let now = app.clock.now();
    let repeats = |first: &QrCode| request.is_repeat_of(&first.fingerprint);
    let (code, order) = build(app, &shop, request.clone(), instalment_plan, now)?;
    let (replayed, code) = match app.collection.issue_qr(&code, order.as_ref()).await? {
        Issued::Created(code) => (false, code),
        Issued::Replayed(first) => (true, first),
        // A code stored before the fingerprint's current form (the store
        // compares the current form only).
        Issued::Conflict(first) if repeats(&first) => (true, first),
        Issued::CapExceeded(refused) => return Err(refused.into()),
        Issued::Conflict(first) => {
            return Err(ApiError::new(
                ErrorCode::OutOrderNoConflict,
                format!(
                    "out_order_no was already used for code {} with other parameters",
                    first.qr_id
                ),
            ))
        }
    };
    let mut body = code_json(&code, now)?;
    match provider {
        // Made after the code, and again on a replay: the provider returns
        // the same order for the same out_trade_no, never a second one.
        Some(gateway) if code.status_at(now) == QrStatus::Active => {
            provider_code::attach(gateway.as_ref(), &shop, &code, &mut body).await?;
        }
        // A replay of a code that expired, was revoked or paid: nothing is
        // left to scan, and the provider has closed its order (it would
        // refuse to make it again). The code answers as it is.
        Some(gateway) => body["provider"] = json!(gateway.provider()),
        None => {}
    }
    Ok(IssueOutcome { replayed, body })
}

fn parse(fields: &Fields, pos_device: Option<&DeviceId>) -> Result<QrIssue, ApiError> {
    fields.only(&FIELDS)?;
    let kind = fields.required_str("kind", 16)?;
    let kind = QrKind::parse(kind)
        .ok_or_else(|| ApiError::invalid("kind", "kind must be \"static\" or \"dynamic\""))?;
    let id = |field: &str| fields.optional_str(field, 64);
    let out_order_no = id("out_order_no")?
        .map(|t| OutOrderNo::parse(t).map_err(|e| ApiError::invalid("out_order_no", e.to_string())))
        .transpose()?;
    let named_device = id("device_id")?
        .map(|t| DeviceId::parse(t).map_err(|e| ApiError::invalid("device_id", e.to_string())))
        .transpose()?;
    let device_id = match (pos_device, named_device) {
        (Some(own), Some(named)) if *own != named => {
            return Err(ApiError::invalid(
                "device_id",
                "a device issues codes for itself only",
            ))
        }
        (Some(own), _) => Some(own.clone()),
        (None, named) => named,
    };
    let instalment_periods = match fields.object("instalments")? {
        None => None,
        Some(inner) => {
            inner.only(&["periods"])?;
            let periods = inner
                .optional_i64("periods", 1..=255)?
                .ok_or_else(|| ApiError::invalid("instalments.periods", "periods is required"))?;
            Some(u8::try_from(periods).unwrap_or(u8::MAX))
        }
    };
    let issue = QrIssue {
        kind,
        amount: fields.optional_amount("amount")?,
        out_order_no,
        description: fields
            .optional_str("description", MAX_DESCRIPTION_CHARS)?
            .map(QrDescription::parse)
            .transpose()
            .map_err(|_| {
                ApiError::invalid(
                    "description",
                    "description must be at most 128 characters, without control characters",
                )
            })?,
        device_id,
        expires_in_s: fields.optional_i64("expires_in_s", 1..=MAX_EXPIRY_S)?,
        instalment_periods: None,
        provider: fields
            .optional_str("provider", 16)?
            .map(|p| {
                Provider::parse(p).ok_or_else(|| {
                    ApiError::invalid("provider", "provider must be wechatpay, alipay or douyin")
                })
            })
            .transpose()?,
    }
    .validate()
    .map_err(|e| ApiError::invalid(e.field, e.message))?;
    // The plan length is checked after the other fields, as it always was.
    let instalment_periods = instalment_periods
        .map(PlanPeriods::new)
        .transpose()
        .map_err(|e| ApiError::from(InstalmentError::from(e)))?;
    Ok(QrIssue {
        instalment_periods,
        ..issue
    })
}

/// The plan of a dynamic code now; a static code only checks that the shop
/// offers the plan (its amount comes from the buyer).
fn plan_for(request: &QrIssue, shop: &Shop) -> Result<Option<InstalmentPlan>, ApiError> {
    let Some(periods) = request.instalment_periods else {
        return Ok(None);
    };
    match (request.kind, request.amount) {
        (QrKind::Dynamic, Some(amount)) => plan(amount, periods, &shop.instalments)
            .map(Some)
            .map_err(ApiError::from),
        _ => offered_rate(periods, &shop.instalments)
            .map(|_| None)
            .map_err(ApiError::from),
    }
}

fn build(
    app: &App,
    shop: &Shop,
    request: QrIssue,
    instalment_plan: Option<InstalmentPlan>,
    now: DateTime<Utc>,
) -> Result<(QrCode, Option<Order>), ApiError> {
    let qr_id = QrId::generate(now);
    let signed = token::sign(
        app.signing_key()?.expose().as_bytes(),
        qr_id.as_str(),
        shop.shop_id.as_str(),
    )
    .map_err(|e| ApiError::internal(format!("payment token: {e}")))?;
    let url = token::payment_url(&app.pay_base_url, &signed);
    let dynamic = request.kind == QrKind::Dynamic;
    let emv = emv::encode(&emv::MerchantPayload {
        dynamic,
        qr_id: qr_id.to_string(),
        reference: None,
        amount: request.amount.filter(|_| dynamic).map(|a| a.to_string()),
        merchant_name: shop.name.to_string(),
        merchant_city: MERCHANT_CITY.to_owned(),
        ..emv::MerchantPayload::default()
    })
    .map_err(|e| ApiError::internal(format!("EMV payload: {e}")))?;
    let order_id = dynamic.then(|| OrderId::generate(now));
    let code = QrCode {
        qr_id: qr_id.clone(),
        shop_id: shop.shop_id.clone(),
        kind: request.kind,
        order_id: order_id.clone(),
        out_order_no: request.out_order_no.clone(),
        amount: request.amount,
        description: request.description.clone(),
        device_id: request.device_id.clone(),
        instalment_periods: request.instalment_periods,
        instalment_plan: instalment_plan.clone(),
        state: QrState::Active,
        expires_at: request.expires_at(now),
        url,
        emv,
        fingerprint: request.fingerprint(),
        created_at: now,
        updated_at: now,
    };
    let order = match (order_id, request.amount) {
        (Some(order_id), Some(amount)) => Some(
            Order {
                qr_id: Some(qr_id),
                device_id: request.device_id.clone(),
                out_order_no: request.out_order_no,
                description: request.description,
                // The order expires with its code, and is closed at the
                // provider whose code it carries (SPEC §10).
                expires_at: code.expires_at,
                provider_order: request.provider,
                ..Order::created(order_id, shop.shop_id.clone(), amount, now)
            }
            .with_plan(instalment_plan),
        ),
        _ => None,
    };
    Ok((code, order))
}

pub fn plan_json(plan: &InstalmentPlan) -> Value {
    let schedule: Vec<Value> = plan
        .schedule
        .iter()
        .enumerate()
        .map(|(i, amount)| json!({"period": i + 1, "amount": amount.to_string()}))
        .collect();
    json!({
        "periods": plan.periods,
        "fee_payer": plan.fee_payer,
        "fee_rate": plan.fee_rate.to_string(),
        "fee": plan.fee.to_string(),
        "financed": plan.financed.to_string(),
        "first_amount": plan.first_amount().to_string(),
        "schedule": schedule,
    })
}

/// A code as API.md shows it, with its status now and its SVG.
pub fn code_json(code: &QrCode, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let svg = render::svg(&code.url).map_err(|e| ApiError::internal(format!("QR render: {e}")))?;
    let mut body = json!({
        "qr_id": code.qr_id,
        "shop_id": code.shop_id,
        "kind": code.kind,
        "status": code.status_at(now).as_str(),
        "url": code.url,
        "emv": code.emv,
        "svg": svg,
        "created_at": rfc3339_beijing(code.created_at),
    });
    let optional = [
        ("order_id", code.order_id.as_ref().map(|o| json!(o))),
        ("out_order_no", code.out_order_no.as_ref().map(|o| json!(o))),
        ("amount", code.amount.map(|a| json!(a.to_string()))),
        ("description", code.description.as_ref().map(|d| json!(d))),
        ("device_id", code.device_id.as_ref().map(|d| json!(d))),
        (
            "expires_at",
            code.expires_at.map(|t| json!(rfc3339_beijing(t))),
        ),
        (
            "instalment_plan",
            code.instalment_plan.as_ref().map(plan_json),
        ),
        (
            "instalment_periods",
            code.instalment_periods.map(|p| json!(p)),
        ),
    ];
    if let Value::Object(map) = &mut body {
        for (name, value) in optional {
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        }
    }
    Ok(body)
}
