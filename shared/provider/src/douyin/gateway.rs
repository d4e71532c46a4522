//! Douyin Pay's outbound side (SPEC §9): collection orders and refunds
//! through the 担保支付 (ecpay) v1 server API. No transfers.
//!
//! # Why ecpay v1 and not the current general trade system
//!
//! Checked on developer.open-douyin.com (GATEWAYS.md §3.1):
//! - The current 通用交易系统's server "订单" section lists only 生成下单参数与签名
//!   (the server builds and signs `data`/`byteAuthorization` for the
//!   client's `tt.requestOrder`), 查询CPS信息, 查询订单信息 and 支付结果回调:
//!   the order is created by the mini-program client, never by a server call
//!   (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/payment/trade-system/general/order/request-order-data-sign).
//! - The one server-side create found in the current docs, the life-service
//!   trade system's 开发者发起下单
//!   (…/mini-app/develop/server/locallife/general-ability/agency-trade-system/pre-order/create-order),
//!   is reserved for buyers on Douyin versions below 19.7.0 and announced to
//!   be withdrawn: not for us.
//! - Ecpay v1 still has a documented server-side `create_order`; it is what
//!   API.md's `DOUYIN_SALT`/`DOUYIN_TOKEN` and our notice verifier
//!   (`msg_signature`) belong to. The same navigation marks it
//!   "担保支付(即将下线)" (to be retired): if the merchant's app only has the
//!   general trade system, this adapter becomes "sign `data` for our
//!   mini-program page; query and refund server-side".
//!
//! The buyer pays the returned `order_id`/`order_token` with
//! `tt.pay({orderInfo})` inside our Douyin mini-program (GATEWAYS.md §3.2).
//! Douyin's monthly pay is offered by that cashier itself; `create_order`
//! has no instalment field, so `CollectRequest::instalments` is not sent.
//!
//! # Answers
//!
//! Ecpay answers are not signed (see `answer`): only `err_no == 0` with the
//! documented fields is definitive; a timeout, another HTTP status, an
//! unreadable body, a missing field or an undocumented `err_no` is
//! ambiguous. Each operation maps `err_no` and its status through one table
//! (`outcome`). The error numbers are those the query_order and query_refund
//! pages document; the create pages' own tables could not be read, so the
//! same common numbers are assumed there (UNCONFIRMED).
//!
//! The daily trade bill (获取对账单, `bill`) is fetched when
//! `DOUYIN_MERCHANT_ID` names the ecpay merchant.
//!
//! Douyin has no documented pay-to-user API (GATEWAYS.md §3.4): `register`
//! adds no transfer channel, so Douyin-collected orders get
//! `PAYOUT_CHANNEL_UNAVAILABLE`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qrpay_domain::{Clock, OrderId, Provider, Secret};
use serde::de::DeserializeOwned;

use crate::gateway::{
    CloseOutcome, CollectRequest, CollectionGateway, CreateOutcome, Gateways, HttpRequest,
    HttpTransport, PayMethod, RefundGateway, RefundNo, RefundOutcome, RefundRequest, TradeState,
};
use crate::notice::check_config_id;

mod answer;
mod bill;
mod outcome;
mod sign;

use answer::read;
pub use bill::{bill_url, BILL_PATH, BILL_TYPES, PUBLISH_DELAY};
use outcome::{close_outcome, create_outcome, refund_created, refund_state, trade_state};
use sign::signed_body;
pub use sign::{ecpay_sign, FieldValue, UNSIGNED_FIELDS};

/// Production ecpay v1; `DOUYIN_BASE_URL` overrides it (sandbox
/// `https://open-sandbox.douyin.com/api/apps/ecpay/v1`, or our simulator).
pub const DEFAULT_BASE_URL: &str = "https://developer.toutiao.com/api/apps/ecpay/v1";
/// Where Douyin sends our notices, under `QRPAY_CALLBACK_BASE_URL`.
pub const CALLBACK_PATH: &str = "/callbacks/douyin";
pub const CREATE_ORDER_PATH: &str = "/create_order";
pub const QUERY_ORDER_PATH: &str = "/query_order";
pub const CREATE_REFUND_PATH: &str = "/create_refund";
pub const QUERY_REFUND_PATH: &str = "/query_refund";

/// `valid_time` bounds in seconds, 15 minutes to 2 days (GATEWAYS.md §3.2).
/// The field text as some SDKs carry it says 5 minutes to 2 days, clamped by
/// Douyin; 900–172800 is inside both readings.
pub const VALID_TIME_MIN_S: i64 = 900;
pub const VALID_TIME_MAX_S: i64 = 172_800;
/// `subject`/`body`: at most 128 bytes (GATEWAYS.md §3.2) and 42 characters
/// (the field text as SDKs carry it; UNCONFIRMED on the official page).
const SUBJECT_MAX_CHARS: usize = 42;
const SUBJECT_MAX_BYTES: usize = 128;
/// `reason`: at most 100 (refund page; bytes, the stricter reading).
const REASON_MAX_BYTES: usize = 100;
/// `reason` is required; this is sent when the merchant gave none.
const DEFAULT_REFUND_REASON: &str = "退款";
/// `notify_url`: at most 256 (refund page).
const NOTIFY_URL_MAX_BYTES: usize = 256;

/// Douyin Pay through ecpay v1, for one mini-program (`app_id`).
pub struct DouyinGateway {
    app_id: String,
    salt: Secret,
    /// `DOUYIN_MERCHANT_ID`, the ecpay 商户号 (`seller`) whose bills we
    /// fetch; unset: no bills.
    seller: Option<String>,
    base_url: String,
    notify_url: Option<String>,
    transport: Arc<dyn HttpTransport>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DouyinGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DouyinGateway")
            .field("app_id", &self.app_id)
            .field("salt", &self.salt)
            .field("seller", &self.seller)
            .field("base_url", &self.base_url)
            .field("notify_url", &self.notify_url)
            .finish()
    }
}

impl DouyinGateway {
    /// From `DOUYIN_APP_ID` (unset: Douyin is not offered, `Ok(None)`),
    /// `DOUYIN_SALT` (required with an app id), `DOUYIN_BASE_URL` (default
    /// `DEFAULT_BASE_URL`) and `QRPAY_CALLBACK_BASE_URL` (notices go to
    /// `{it}/callbacks/douyin`; unset: to the address set in Douyin's console)
    /// and `DOUYIN_MERCHANT_ID` (the ecpay 商户号 named in bill requests;
    /// unset: Douyin's bills are not fetched).
    /// Errors name the setting, never its value.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        transport: Arc<dyn HttpTransport>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<DouyinGateway>, String> {
        let setting = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(app_id) = setting("DOUYIN_APP_ID") else {
            return Ok(None);
        };
        check_config_id("DOUYIN_APP_ID", &app_id).map_err(|e| e.to_string())?;
        let salt =
            setting("DOUYIN_SALT").ok_or("DOUYIN_SALT is required when DOUYIN_APP_ID is set")?;
        let seller = setting("DOUYIN_MERCHANT_ID");
        if let Some(seller) = &seller {
            check_config_id("DOUYIN_MERCHANT_ID", seller).map_err(|e| e.to_string())?;
        }
        let base_url = setting("DOUYIN_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err("DOUYIN_BASE_URL must be an http(s) URL".into());
        }
        let notify_url = setting("QRPAY_CALLBACK_BASE_URL")
            .map(|base| format!("{}{CALLBACK_PATH}", base.trim_end_matches('/')));
        if notify_url
            .as_ref()
            .is_some_and(|u| u.len() > NOTIFY_URL_MAX_BYTES)
        {
            return Err(format!(
                "QRPAY_CALLBACK_BASE_URL makes a notify_url over {NOTIFY_URL_MAX_BYTES} bytes"
            ));
        }
        Ok(Some(DouyinGateway {
            app_id,
            salt: Secret::new(salt),
            seller,
            base_url: base_url.trim_end_matches('/').to_owned(),
            notify_url,
            transport,
            clock,
        }))
    }

    /// Offers Douyin collection and refunds, and its bills when the
    /// merchant id is configured. No transfers: Douyin has none.
    pub fn register(self: Arc<Self>, gateways: &mut Gateways) {
        gateways.collection.insert(Provider::Douyin, self.clone());
        if self.seller.is_some() {
            gateways.bills.insert(Provider::Douyin, self.clone());
        }
        gateways.refunds.insert(Provider::Douyin, self);
    }

    /// POSTs one signed ecpay request and reads its answer.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        fields: &[(&str, FieldValue)],
    ) -> Result<T, String> {
        let request = HttpRequest {
            method: http::Method::POST,
            url: format!("{}{path}", self.base_url),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: signed_body(&self.app_id, fields, &self.salt),
        };
        read(
            path.trim_start_matches('/'),
            self.transport.send(request).await,
        )
    }

    /// The `create_order` fields, or why the order is refused before
    /// anything is sent.
    fn order_fields(
        &self,
        request: &CollectRequest,
    ) -> Result<Vec<(&'static str, FieldValue)>, CreateOutcome> {
        if request.method != PayMethod::Cashier {
            return Err(refused(
                "UNSUPPORTED_METHOD",
                "Douyin (ecpay) only creates orders paid in its cashier",
            ));
        }
        let subject = bounded_text(&request.subject, SUBJECT_MAX_CHARS, SUBJECT_MAX_BYTES)
            .ok_or_else(|| refused("INVALID_SUBJECT", "the subject is blank"))?;
        let valid_time_s = valid_time_s(self.clock.now(), request.expires_at)
            .ok_or_else(|| refused("ORDER_EXPIRED", "the order expired before it was created"))?;
        let mut fields = vec![
            (
                "out_order_no",
                FieldValue::Text(request.order_id.to_string()),
            ),
            ("total_amount", FieldValue::Integer(request.amount.fen())),
            ("subject", FieldValue::Text(subject.clone())),
            ("body", FieldValue::Text(subject)),
            ("valid_time", FieldValue::Integer(valid_time_s)),
        ];
        self.add_notify_url(&mut fields);
        Ok(fields)
    }

    fn add_notify_url(&self, fields: &mut Vec<(&'static str, FieldValue)>) {
        if let Some(url) = &self.notify_url {
            fields.push(("notify_url", FieldValue::Text(url.clone())));
        }
    }
}

#[async_trait]
impl CollectionGateway for DouyinGateway {
    fn provider(&self) -> Provider {
        Provider::Douyin
    }

    /// `POST /create_order`. Its `valid_time` counts from now, so a second
    /// create for one order sends a smaller one (and so another `sign`).
    /// Whether ecpay then returns the same order is UNCONFIRMED: an
    /// undocumented `err_no` is ambiguous (query first), a documented
    /// parameter error a refusal. Either way the buyer holds no token from a
    /// refused call, so nothing payable is lost.
    async fn create(&self, request: &CollectRequest) -> CreateOutcome {
        let fields = match self.order_fields(request) {
            Ok(fields) => fields,
            Err(refusal) => return refusal,
        };
        match self.post(CREATE_ORDER_PATH, &fields).await {
            Ok(answer) => create_outcome(&answer),
            Err(detail) => CreateOutcome::Ambiguous { detail },
        }
    }

    /// `POST /query_order`.
    async fn query(&self, order_id: &OrderId) -> TradeState {
        let fields = [("out_order_no", FieldValue::Text(order_id.to_string()))];
        match self.post(QUERY_ORDER_PATH, &fields).await {
            Ok(answer) => trade_state(&answer, order_id),
            Err(detail) => TradeState::Ambiguous { detail },
        }
    }

    /// Ecpay has no close call: an unpaid order lapses at its `valid_time`.
    /// So closing asks `query_order` and answers only what that proves
    /// (`close_outcome`): never `Closed` for an order that can still be paid.
    async fn close(&self, order_id: &OrderId) -> CloseOutcome {
        close_outcome(self.query(order_id).await)
    }
}

#[async_trait]
impl RefundGateway for DouyinGateway {
    fn provider(&self) -> Provider {
        Provider::Douyin
    }

    /// `POST /create_refund`. `out_refund_no` is "保证在商户中唯一" (refund
    /// page); that ecpay refunds a repeated one only once is UNCONFIRMED, so
    /// a repeat's undocumented answer stays ambiguous and is settled by
    /// `query_refund`.
    async fn refund(&self, request: &RefundRequest) -> RefundOutcome {
        let reason = request
            .reason
            .as_deref()
            .and_then(|r| bounded_text(r, REASON_MAX_BYTES, REASON_MAX_BYTES))
            .unwrap_or_else(|| DEFAULT_REFUND_REASON.to_owned());
        let mut fields = vec![
            (
                "out_order_no",
                FieldValue::Text(request.order_id.to_string()),
            ),
            (
                "out_refund_no",
                FieldValue::Text(request.refund_no.as_str().to_owned()),
            ),
            ("reason", FieldValue::Text(reason)),
            ("refund_amount", FieldValue::Integer(request.amount.fen())),
            // Douyin's refund callback does not carry `cp_orderno`; it echoes
            // `cp_extra`, so the notice can name our order.
            ("cp_extra", FieldValue::Text(request.order_id.to_string())),
        ];
        self.add_notify_url(&mut fields);
        match self.post(CREATE_REFUND_PATH, &fields).await {
            Ok(answer) => refund_created(&answer),
            Err(detail) => RefundOutcome::Ambiguous { detail },
        }
    }

    /// `POST /query_refund`: ecpay finds a refund by `out_refund_no` alone.
    async fn query_refund(&self, _order_id: &OrderId, refund_no: &RefundNo) -> RefundOutcome {
        let fields = [(
            "out_refund_no",
            FieldValue::Text(refund_no.as_str().to_owned()),
        )];
        match self.post(QUERY_REFUND_PATH, &fields).await {
            Ok(answer) => refund_state(&answer),
            Err(detail) => RefundOutcome::Ambiguous { detail },
        }
    }
}

fn refused(code: &str, reason: &str) -> CreateOutcome {
    CreateOutcome::Refused {
        code: code.into(),
        reason: reason.into(),
    }
}

// ---- field rules -----------------------------------------------------------------------

/// `valid_time`: seconds from `now` to `expires_at`, clamped to
/// 900–172800; `None` when the order has already expired.
fn valid_time_s(now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Option<i64> {
    let remaining_s = (expires_at - now).num_seconds();
    (remaining_s > 0).then(|| remaining_s.clamp(VALID_TIME_MIN_S, VALID_TIME_MAX_S))
}

/// Text for a length-limited field: control characters dropped, trimmed
/// (so the `sign`'s own trimming changes nothing), cut to `max_chars`
/// characters and `max_bytes` UTF-8 bytes on a character boundary. `None`
/// when nothing is left.
fn bounded_text(text: &str, max_chars: usize, max_bytes: usize) -> Option<String> {
    let visible: String = text.chars().filter(|c| !c.is_control()).collect();
    let mut cut = String::new();
    for c in visible.trim().chars().take(max_chars) {
        if cut.len() + c.len_utf8() > max_bytes {
            break;
        }
        cut.push(c);
    }
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn valid_time_counts_to_expiry_within_the_documented_bounds() {
        let now = at(1_780_000_000);
        assert_eq!(valid_time_s(now, at(1_780_003_600)), Some(3_600));
        assert_eq!(valid_time_s(now, at(1_780_000_060)), Some(VALID_TIME_MIN_S));
        assert_eq!(
            valid_time_s(now, at(1_780_000_000 + 90 * 86_400)),
            Some(VALID_TIME_MAX_S)
        );
        assert_eq!(valid_time_s(now, at(1_780_000_001)), Some(VALID_TIME_MIN_S));
        assert_eq!(valid_time_s(now, now), None);
        assert_eq!(valid_time_s(now, at(1_779_999_000)), None);
    }

    #[test]
    fn bounded_text_cuts_on_characters_and_bytes() {
        assert_eq!(
            bounded_text("  Coffee\n ", 42, 128).as_deref(),
            Some("Coffee")
        );
        assert_eq!(bounded_text(&"a".repeat(50), 42, 128), Some("a".repeat(42)));
        // 42 CJK characters are 126 bytes: all fit; 43 would not be taken.
        let cjk = "咖".repeat(50);
        assert_eq!(bounded_text(&cjk, 42, 128), Some("咖".repeat(42)));
        // A 100-byte reason: 33 three-byte characters, never half of one.
        assert_eq!(bounded_text(&cjk, 100, 100), Some("咖".repeat(33)));
        assert_eq!(bounded_text("a\u{7}b", 42, 128).as_deref(), Some("ab"));
        assert_eq!(bounded_text(" \t\r\n", 42, 128), None);
        assert_eq!(bounded_text("x         y", 2, 128).as_deref(), Some("x"));
    }
}
