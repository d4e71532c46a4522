//! A buyer paying a code through the sandbox: the payment page's checkout,
//! the charge, and the signed callback that tells qrpay.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use qrpay_domain::{
    Amount, Clock, CollectionEvent, CollectionEventKind, Money, OrderId, Payer, Provider, ShopId,
};
use qrpay_http::{ApiError, Fields};
use qrpay_provider::{NoticeSigner, SandboxCharge, SandboxChargeKind};
use serde_json::{json, Map, Value};

use super::{fields, provider_ref, Qrpay, Sandbox, MAX_PAYER_CHARS};
use crate::local_http::LocalResponse;

impl Sandbox {
    /// `POST /sandbox/qr-codes/{qr_id}/pay`: the buyer scans the code, checks
    /// out on the payment page, pays; the sandbox records the charge and
    /// calls qrpay back.
    pub(super) async fn pay(
        &self,
        qrpay: &dyn Qrpay,
        qr_id: &str,
        body: &[u8],
    ) -> Result<LocalResponse, ApiError> {
        let fields = fields(body, &["amount", "payer"])?;
        let payer = payer(&fields)?;
        let order = match self.check_out(qrpay, qr_id, &fields).await {
            Ok(order) => order,
            // The page refused (expired, used, wrong amount): the buyer sees why.
            Err(refusal) => return Ok(refusal),
        };
        let now = self.clock.now();
        let (txn, event) = self.charge(&order, payer, now)?;
        let notice = self.signer.sign(&event, now);
        let deliveries = self.deliver(qrpay, &notice).await;
        if let Some(plan) = order.plan {
            self.collect_plan(order.shop, order.order_id.clone(), plan.schedule, now);
        }
        let callback = deliveries.first().cloned().unwrap_or_default();
        Ok(LocalResponse::json(
            StatusCode::OK,
            &json!({
                "provider_txn_id": txn,
                "order_id": order.order_id,
                "amount": order.amount.to_string(),
                "callback": {"deliveries": deliveries.len(), "first": callback},
            }),
        ))
    }

    /// The payment page: the buyer's provider gets the order to charge, or
    /// the page's refusal to show the buyer.
    async fn check_out(
        &self,
        qrpay: &dyn Qrpay,
        qr_id: &str,
        fields: &Fields,
    ) -> Result<CheckedOut, LocalResponse> {
        let shop = qrpay.shop_of_code(qr_id).ok_or_else(|| {
            LocalResponse::error(ApiError::new(
                qrpay_http::ErrorCode::QrNotFound,
                "the sandbox knows the codes issued through this local stack since it started",
            ))
        })?;
        let token = qrpay
            .payment_token(&shop, qr_id)
            .map_err(|e| LocalResponse::error(ApiError::internal(e)))?;
        let mut checkout_body = Map::new();
        if let Some(amount) = fields.value("amount") {
            checkout_body.insert("amount".into(), amount.clone());
        }
        // The buyer commits the amount and the sandbox as the way to pay.
        checkout_body.insert("method".into(), Value::String("sandbox".into()));
        let checkout = qrpay
            .request(
                "POST",
                &format!("/pay/{token}"),
                vec![("content-type".into(), "application/json".into())],
                Value::Object(checkout_body).to_string().into_bytes(),
            )
            .await;
        if !(200..300).contains(&checkout.status) {
            return Err(checkout);
        }
        CheckedOut::read(shop, &checkout.body_json().unwrap_or_default())
            .map_err(LocalResponse::error)
    }

    /// Records the buyer's payment of `order` (less the monthly-pay fee the
    /// shop bears) and the event qrpay is told of; the sandbox's
    /// transaction id and that event.
    fn charge(
        &self,
        order: &CheckedOut,
        payer: Option<Payer>,
        now: DateTime<Utc>,
    ) -> Result<(String, CollectionEvent), ApiError> {
        let fee = order.plan.as_ref().map_or(Money::ZERO, |p| p.shop_fee);
        let txn = self.next_ref("sbx_tx", now);
        let provider_txn_id = provider_ref(&txn)?;
        self.provider.record_charge(SandboxCharge {
            shop_id: order.shop.clone(),
            kind: SandboxChargeKind::Payment,
            order_id: order.order_id.clone(),
            provider_ref: txn.clone(),
            period: None,
            amount: order.amount,
            fee,
            succeeded: true,
            payer_masked: payer.as_ref().map(Payer::masked),
            at: now,
        });
        let event = CollectionEvent {
            provider: Provider::Sandbox,
            notification_id: provider_ref(&self.next_ref("sbx_n", now))?,
            order_id: order.order_id.clone(),
            kind: CollectionEventKind::PaymentSucceeded {
                provider_txn_id,
                amount: order.amount,
                payer,
            },
            occurred_at: now,
        };
        Ok((txn, event))
    }
}

/// What the payment page's answer tells the buyer's provider to charge.
struct CheckedOut {
    shop: ShopId,
    order_id: OrderId,
    amount: Amount,
    plan: Option<CheckoutPlan>,
}

impl CheckedOut {
    fn read(shop: ShopId, order: &Value) -> Result<CheckedOut, ApiError> {
        let order_id = order
            .get("order_id")
            .and_then(Value::as_str)
            .and_then(|o| OrderId::parse(o).ok())
            .ok_or_else(|| ApiError::internal("the checkout named no order"))?;
        let amount = order
            .get("amount")
            .and_then(Value::as_str)
            .and_then(|a| Amount::parse(a).ok())
            .ok_or_else(|| ApiError::internal("the checkout named no amount"))?;
        Ok(CheckedOut {
            shop,
            order_id,
            amount,
            plan: checkout_plan(order)?,
        })
    }
}

/// The buyer's name and phone, when the body gives them.
fn payer(fields: &Fields) -> Result<Option<Payer>, ApiError> {
    let Some(p) = fields.object("payer")? else {
        return Ok(None);
    };
    // As strict as the document: a payer has a name and a phone, nothing else.
    p.only(&["name", "phone"]).map_err(|e| ApiError {
        field: e.field.as_ref().map(|f| format!("payer.{f}")),
        ..e
    })?;
    let text = |name: &str| {
        p.optional_str(name, MAX_PAYER_CHARS)
            .map(|t| t.map(str::to_owned))
            .map_err(|e| ApiError {
                field: Some(format!("payer.{name}")),
                ..e
            })
    };
    Ok(Some(Payer {
        name: text("name")?,
        phone: text("phone")?,
        account: None,
    }))
}

/// What the payment page told the provider of a monthly-pay plan.
struct CheckoutPlan {
    /// The fee the shop bears (nothing when the buyer pays it).
    shop_fee: Money,
    /// What to collect from the buyer, period by period.
    schedule: Vec<Amount>,
}

/// The plan in a checkout answer (`instalment_plan`, as API.md shows it).
fn checkout_plan(order: &Value) -> Result<Option<CheckoutPlan>, ApiError> {
    let plan = match order.get("instalment_plan") {
        None | Some(Value::Null) => return Ok(None),
        Some(plan) => plan,
    };
    let malformed = || ApiError::internal(format!("the checkout's plan is malformed: {plan}"));
    let fee = plan["fee"]
        .as_str()
        .and_then(|f| Money::parse(f).ok())
        .ok_or_else(malformed)?;
    let schedule = plan["schedule"]
        .as_array()
        .ok_or_else(malformed)?
        .iter()
        .map(|p| {
            p["amount"]
                .as_str()
                .and_then(|a| Amount::parse(a).ok())
                .ok_or_else(malformed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(CheckoutPlan {
        shop_fee: if plan["fee_payer"] == "shop" {
            fee
        } else {
            Money::ZERO
        },
        schedule,
    }))
}
