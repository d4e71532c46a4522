//! `admin-api`: the platform operator's setup routes (API.md "Admin"): shops
//! with their payout cap, balance and monthly-pay settings, POS devices, and
//! balance adjustments. Only an `admin` token may call them.

mod adjustments;

pub use adjustments::adjustment_json;

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use qrpay_domain::branding::MAX_LINK_CHARS;
use qrpay_domain::shop::{DEVICE_SECRET_LEN, MAX_SHOP_NAME_CHARS};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{
    Branding, Clock, CollectionControls, Device, DeviceId, FeePayer, FeeRate, GraceDays,
    InstalmentConfig, OperatorId, PlanPeriods, ProcessingRate, ProcessingRateError,
    ProcessingRates, Provider, Role, Secret, Shop, ShopId, ShopLink, ShopName, ShopSetup,
};
use qrpay_http::{
    json, json_object, principal, require_role, segments, ApiError, ErrorCode, Fields,
};
use qrpay_store::keyring::DeviceKeyring;
use qrpay_store::ShopStore;
use serde_json::{json, Value};

pub const MAX_BODY_BYTES: usize = 8 * 1024;

pub struct App {
    pub shops: Arc<dyn ShopStore>,
    pub clock: Arc<dyn Clock>,
    /// Seals device secrets before they are stored (KMS in AWS).
    pub device_keys: Arc<dyn DeviceKeyring>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    qrpay_http::respond(route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let (kind, id) = match segments(&path).as_slice() {
        ["admin", kind @ ("shops" | "devices"), id] => (*kind, (*id).to_owned()),
        ["admin", "shops", id, "balance-adjustments"] => ("balance-adjustments", (*id).to_owned()),
        _ => return Err(ApiError::new(ErrorCode::RouteNotFound, "no such route")),
    };
    let method = if kind == "balance-adjustments" {
        Method::POST
    } else {
        Method::PUT
    };
    if req.method() != method {
        return Err(ApiError::method_not_allowed(&[method]));
    }
    let who = principal(req)?;
    require_role(&who, Role::Admin)?;
    if kind == "balance-adjustments" {
        let shop_id =
            ShopId::parse(&id).map_err(|e| ApiError::invalid("shop_id", e.to_string()))?;
        return adjustments::create_adjustment(app, req, &who, shop_id).await;
    }
    let body = json_object(req, MAX_BODY_BYTES)?;
    if kind == "shops" {
        let shop_id =
            ShopId::parse(&id).map_err(|e| ApiError::invalid("shop_id", e.to_string()))?;
        put_shop(app, shop_id, &body).await
    } else {
        let device_id =
            DeviceId::parse(&id).map_err(|e| ApiError::invalid("device_id", e.to_string()))?;
        put_device(app, device_id, &body).await
    }
}

/// `PUT /admin/shops/{shop_id}`: create or update a shop. `payout_balance`
/// is the balance a new shop starts with (0.00 without it); for an existing
/// shop it is refused (API.md): afterwards the balance moves only by ledger
/// entries. The store never overwrites an existing shop's balance either, so
/// a shop created concurrently keeps the balance it was created with.
async fn put_shop(app: &App, shop_id: ShopId, body: &Fields) -> Result<Response<Body>, ApiError> {
    body.only(&[
        "name",
        "owner_operator_id",
        "daily_payout_cap",
        "payout_balance",
        "instalments",
        "instalment_grace_days",
        "display_name",
        "receipt_link",
        "daily_collection_cap",
        "large_payment_alert",
        "processing_rates",
    ])?;
    let name = ShopName::parse(body.required_str("name", MAX_SHOP_NAME_CHARS)?)
        .map_err(|e| ApiError::invalid("name", e.for_field("name")))?;
    let owner = body.required_str("owner_operator_id", OperatorId::MAX_LEN)?;
    let owner_operator_id = OperatorId::parse(owner)
        .map_err(|e| ApiError::invalid("owner_operator_id", e.to_string()))?;
    let daily_payout_cap = body
        .optional_amount("daily_payout_cap")?
        .unwrap_or_else(ShopSetup::default_daily_cap);
    let payout_balance = body.optional_money("payout_balance")?;
    let instalments = match body.object("instalments")? {
        Some(fields) => instalment_config(&fields)?,
        None => InstalmentConfig::default(),
    };
    let instalment_grace_days = grace_days(body)?;
    let branding = branding(body)?;
    // SPEC §11: both optional, each a positive amount up to the largest one.
    let controls = CollectionControls {
        daily_collection_cap: body.optional_amount("daily_collection_cap")?,
        large_payment_alert: body.optional_amount("large_payment_alert")?,
    };
    let processing_rates = processing_rates(body)?;
    let setup = ShopSetup {
        shop_id,
        name,
        owner_operator_id,
        daily_payout_cap,
        payout_balance,
        instalments,
        instalment_grace_days,
        branding,
        controls,
        processing_rates,
    };
    if setup.payout_balance.is_some() && app.shops.get_shop(&setup.shop_id).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            "payout_balance is set when a shop is created; an existing shop's balance moves only by ledger entries (balance adjustments)",
        ));
    }
    let shop = app.shops.put_shop(&setup, app.clock.now()).await?;
    tracing::info!(shop_id = %shop.shop_id, "shop set up");
    Ok(json(StatusCode::OK, &shop_json(&shop)))
}

/// `instalment_grace_days`: 0-60, 3 unless given (SPEC §11).
fn grace_days(body: &Fields) -> Result<GraceDays, ApiError> {
    let max = i64::from(GraceDays::MAX);
    Ok(body
        .optional_i64("instalment_grace_days", 0..=max)?
        .map(GraceDays::new)
        .transpose()
        .map_err(|e| ApiError::invalid("instalment_grace_days", e.to_string()))?
        .unwrap_or_default())
}

/// `display_name` and `receipt_link`: what buyers see of the shop.
fn branding(body: &Fields) -> Result<Branding, ApiError> {
    let display_name = body
        .optional_str("display_name", MAX_SHOP_NAME_CHARS)?
        .map(|name| match name.trim() {
            "" => Err(ApiError::invalid(
                "display_name",
                "display_name cannot be blank",
            )),
            _ => ShopName::parse(name)
                .map_err(|e| ApiError::invalid("display_name", e.for_field("display_name"))),
        })
        .transpose()?;
    let receipt_link = body
        .optional_str("receipt_link", MAX_LINK_CHARS)?
        .map(|link| {
            ShopLink::parse(link)
                .map_err(|e| ApiError::invalid("receipt_link", format!("receipt_link {e}")))
        })
        .transpose()?;
    Ok(Branding {
        display_name,
        receipt_link,
    })
}

fn instalment_config(fields: &Fields) -> Result<InstalmentConfig, ApiError> {
    fields.only(&["min_amount", "fee_payer", "fee_rates"])?;
    let defaults = InstalmentConfig::default();
    let min_amount = fields
        .optional_amount("min_amount")?
        .unwrap_or(defaults.min_amount);
    let fee_payer = match fields.optional_str("fee_payer", 8)? {
        None => defaults.fee_payer,
        Some("shop") => FeePayer::Shop,
        Some("buyer") => FeePayer::Buyer,
        Some(_) => {
            return Err(ApiError::invalid(
                "instalments.fee_payer",
                "fee_payer must be \"shop\" or \"buyer\"",
            ))
        }
    };
    let fee_rates = match fields.object("fee_rates")? {
        None => defaults.fee_rates,
        Some(rates) => {
            let mut parsed = BTreeMap::new();
            for (periods, rate) in rates.entries() {
                let field = format!("instalments.fee_rates.{periods}");
                let periods = periods
                    .parse::<u8>()
                    .ok()
                    .and_then(|p| PlanPeriods::new(p).ok())
                    .ok_or_else(|| ApiError::invalid(&field, "plans are 3, 6 or 12 periods"))?;
                parsed.insert(periods, fee_rate(rate).ok_or_else(|| {
                    ApiError::invalid(&field, "a fee rate is a decimal string from \"0\" to below \"1\", at most 4 decimals")
                })?);
            }
            parsed
        }
    };
    Ok(InstalmentConfig {
        min_amount,
        fee_payer,
        fee_rates,
    })
}

/// `processing_rates`: the fee each provider keeps from a payment under the
/// shop's contract, by provider (`{"wechatpay": "0.0060"}`); none unless given.
fn processing_rates(body: &Fields) -> Result<ProcessingRates, ApiError> {
    let Some(fields) = body.object("processing_rates")? else {
        return Ok(ProcessingRates::default());
    };
    let mut rates = BTreeMap::new();
    for (name, rate) in fields.entries() {
        let field = format!("processing_rates.{}", qrpay_http::body::field_name(name));
        let provider = Provider::parse(name)
            .ok_or_else(|| ApiError::invalid(&field, "providers are wechatpay and alipay"))?;
        let rate = rate
            .as_str()
            .ok_or(ProcessingRateError::NotARate)
            .and_then(ProcessingRate::parse)
            .map_err(|e| ApiError::invalid(&field, e.to_string()))?;
        rates.insert(provider, rate);
    }
    ProcessingRates::new(rates).map_err(|e| match e {
        ProcessingRateError::NoFeePerPayment(p) => {
            ApiError::invalid(&format!("processing_rates.{p}"), e.to_string())
        }
        _ => ApiError::invalid("processing_rates", e.to_string()),
    })
}

/// A fee rate is given as its text form ("0.0230"), never a JSON number.
fn fee_rate(value: &Value) -> Option<FeeRate> {
    FeeRate::parse(value.as_str()?).ok()
}

/// `PUT /admin/devices/{device_id}`: register a POS device to a shop. The
/// secret is sealed (bound to the device id) before it is stored, and never
/// echoed or logged. Registering a device again replaces its record, which
/// also seals the secret of a record from before secrets were sealed.
async fn put_device(
    app: &App,
    device_id: DeviceId,
    body: &Fields,
) -> Result<Response<Body>, ApiError> {
    body.only(&["shop_id", "secret"])?;
    let shop_id = ShopId::parse(body.required_str("shop_id", ShopId::MAX_LEN)?)
        .map_err(|e| ApiError::invalid("shop_id", e.to_string()))?;
    let secret = body.required_str("secret", *DEVICE_SECRET_LEN.end())?;
    if !DEVICE_SECRET_LEN.contains(&secret.len()) {
        return Err(ApiError::invalid(
            "secret",
            format!(
                "secret must be {}-{} characters",
                DEVICE_SECRET_LEN.start(),
                DEVICE_SECRET_LEN.end()
            ),
        ));
    }
    if app.shops.get_shop(&shop_id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::ShopNotFound, "shop not found"));
    }
    let sealed = app
        .device_keys
        .seal(&device_id, &Secret::new(secret.to_owned()))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let device = Device {
        device_id,
        shop_id,
        secret: sealed,
        updated_at: app.clock.now(),
    };
    app.shops.put_device(&device).await?;
    tracing::info!(device_id = %device.device_id, shop_id = %device.shop_id, "device registered");
    Ok(json(
        StatusCode::OK,
        &json!({
            "device_id": device.device_id,
            "shop_id": device.shop_id,
            "updated_at": rfc3339_beijing(device.updated_at),
        }),
    ))
}

pub fn shop_json(shop: &Shop) -> Value {
    let rates: BTreeMap<String, String> = shop
        .instalments
        .fee_rates
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect();
    json!({
        "shop_id": shop.shop_id,
        "name": shop.name,
        "display_name": shop.branding.display_name,
        "receipt_link": shop.branding.receipt_link.as_ref().map(|l| l.as_str()),
        "owner_operator_id": shop.owner_operator_id,
        "daily_payout_cap": shop.daily_payout_cap.to_string(),
        "daily_collection_cap": shop.controls.daily_collection_cap.map(|a| a.to_string()),
        "large_payment_alert": shop.controls.large_payment_alert.map(|a| a.to_string()),
        "payout_balance": shop.payout_balance.to_string(),
        "payout_held": shop.payout_held.to_string(),
        "instalments": {
            "min_amount": shop.instalments.min_amount.to_string(),
            "fee_payer": shop.instalments.fee_payer,
            "fee_rates": rates,
        },
        "instalment_grace_days": shop.instalment_grace_days.days(),
        "processing_rates": shop
            .processing_rates
            .iter()
            .map(|(p, r)| (p.as_str().to_owned(), Value::String(r.to_string())))
            .collect::<serde_json::Map<_, _>>(),
        "created_at": rfc3339_beijing(shop.created_at),
        "updated_at": rfc3339_beijing(shop.updated_at),
    })
}
