//! A dynamic code issued for one provider (`"provider"` in the body, API.md)
//! carries that provider's own payment code — WeChat Pay Native `code_url`,
//! Alipay `qr_code` — so the buyer's app scans it directly: what a POS shows
//! (SPEC §9). The provider order's `out_trade_no` is our order id, so a
//! replayed issue asks again and gets the same provider order, never a
//! second one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use qrpay_domain::{Amount, FeePayer, InstalmentPlan, OrderId, Provider, QrCode, Shop, ShopId};
use qrpay_http::{ApiError, ErrorCode};
use qrpay_provider::gateway::{
    CollectRequest, CollectionGateway, CreateOutcome, PayMethod, ProviderCode, ProviderInstalments,
};
use qrpay_qr::render;
use serde_json::{json, Value};

use crate::App;

/// The provider's collection gateway, if this stage offers what is asked:
/// checked before anything is written.
pub fn gateway_for(
    app: &App,
    provider: Provider,
    plan: Option<&InstalmentPlan>,
) -> Result<Arc<dyn CollectionGateway>, ApiError> {
    let not_offered = |message: String| ApiError::new(ErrorCode::ProviderNotOffered, message);
    let gateway = app
        .gateways
        .collection(provider)
        .cloned()
        .ok_or_else(|| not_offered(format!("{provider} is not offered on this stage")))?;
    match provider {
        // Douyin's orders are paid in its cashier inside Douyin: there is no
        // code for another app to scan (GATEWAYS.md §3.1).
        Provider::Douyin => Err(not_offered(
            "Douyin Pay has no code to scan; issue the code without a provider and the buyer's page opens Douyin's cashier".into(),
        )),
        Provider::Wechatpay if plan.is_some() => Err(not_offered(
            "WeChat Pay has no monthly-pay plans; use alipay (Huabei) or a code without a provider".into(),
        )),
        _ => Ok(gateway),
    }
}

/// Creates (or finds again) the provider order of `code` and adds its
/// payment code to the answer: `"provider"`, `"provider_code"`, and the SVG
/// of the provider's code in place of ours.
pub async fn attach(
    gateway: &dyn CollectionGateway,
    shop: &Shop,
    code: &QrCode,
    body: &mut Value,
) -> Result<(), ApiError> {
    let (Some(order_id), Some(amount), Some(expires_at)) =
        (code.order_id.clone(), code.amount, code.expires_at)
    else {
        return Err(ApiError::internal("a dynamic code without its order"));
    };
    let request = collect_request(
        &shop.shop_id,
        order_id,
        amount,
        subject(shop, code.description.as_ref().map(|d| d.as_str())),
        expires_at,
        PayMethod::Scan,
        code.instalment_plan.as_ref(),
    );
    let provider = gateway.provider();
    body["provider"] = json!(provider);
    match gateway.create(&request).await {
        CreateOutcome::Created(ProviderCode::QrContent(content)) => {
            let svg =
                render::svg(&content).map_err(|e| ApiError::internal(format!("QR render: {e}")))?;
            body["provider_code"] = json!(content);
            body["svg"] = json!(svg);
            Ok(())
        }
        CreateOutcome::Created(other) => Err(ApiError::internal(format!(
            "{provider} answered a scan order with {other:?}"
        ))),
        // Paid already (a replay after the buyer paid): nothing left to scan.
        CreateOutcome::AlreadyPaid => Ok(()),
        other => Err(not_created(provider, other)),
    }
}

/// What the buyer sees as the order's title at the provider: the code's
/// description, else the shop's name as buyers know it, else its id. Never
/// blank: every provider refuses an order without a title (WeChat Pay
/// answers `PARAM_ERROR` for an empty `description`), and a code may carry
/// an empty or blank description.
pub fn subject(shop: &Shop, description: Option<&str>) -> String {
    title_of([
        description,
        Some(shop.display_name()),
        Some(shop.name.as_str()),
    ])
    .unwrap_or_else(|| shop.shop_id.to_string())
}

/// The first of `candidates` with something besides whitespace.
fn title_of<const N: usize>(candidates: [Option<&str>; N]) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .find(|text| !text.trim().is_empty())
        .map(str::to_owned)
}

/// The provider order for one of ours; the plan goes to the provider as
/// its own instalments (Alipay Huabei).
pub fn collect_request(
    shop_id: &ShopId,
    order_id: OrderId,
    amount: Amount,
    subject: String,
    expires_at: DateTime<Utc>,
    method: PayMethod,
    plan: Option<&InstalmentPlan>,
) -> CollectRequest {
    CollectRequest {
        order_id,
        amount,
        subject,
        expires_at,
        method,
        instalments: plan.map(|p| ProviderInstalments {
            periods: p.periods.as_u8(),
            shop_pays_fee: p.fee_payer == FeePayer::Shop,
        }),
        shop_id: Some(shop_id.clone()),
    }
}

/// The refusal for a create that made no usable provider order.
pub fn not_created(provider: Provider, outcome: CreateOutcome) -> ApiError {
    match outcome {
        CreateOutcome::Refused { code, reason } => {
            tracing::warn!(%provider, %code, "provider refused the order");
            ApiError::new(
                ErrorCode::ProviderRefused,
                format!("{provider} refused the order ({code}): {reason}"),
            )
        }
        CreateOutcome::Ambiguous { detail } => {
            tracing::warn!(%provider, %detail, "provider order not confirmed");
            let mut e = ApiError::new(
                ErrorCode::ProviderUnavailable,
                format!("{provider} did not confirm the order; send the same request again (same out_order_no)"),
            );
            e.retry_after_s = Some(2);
            e
        }
        CreateOutcome::AlreadyPaid => ApiError::from(qrpay_domain::QrRefusal::Used),
        CreateOutcome::Created(code) => {
            ApiError::internal(format!("{provider} answered with an unexpected {code:?}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::title_of;

    #[test]
    fn a_blank_description_gives_way_to_the_shop_name() {
        let name = Some("茶铺");
        assert_eq!(title_of([Some("Tea"), name]), Some("Tea".to_owned()));
        assert_eq!(title_of([Some(""), name]), Some("茶铺".to_owned()));
        assert_eq!(title_of([Some(" \u{3000}"), name]), Some("茶铺".to_owned()));
        assert_eq!(title_of([None, name]), Some("茶铺".to_owned()));
        assert_eq!(title_of([Some(""), Some(" ")]), None);
    }
}
