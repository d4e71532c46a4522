//! Refunds: `POST /v3/refund/domestic/refunds` and
//! `GET /v3/refund/domestic/refunds/{out_refund_no}`.
//! https://pay.weixin.qq.com/doc/v3/merchant/4012556457 ,
//! https://pay.weixin.qq.com/doc/v3/merchant/4012552567
//!
//! "同一退款单号多次请求只退一笔": one `out_refund_no` refunds once, so a
//! retry always resends our own refund id. The create answer means
//! accepted, not done: `PROCESSING` until a query or a notice says more.

use async_trait::async_trait;
use qrpay_domain::{OrderId, Provider};
use serde::Deserialize;
use serde_json::json;

use super::codes::{is_not_found, refund_error, refund_status, RefundCategory, RefundError};
use super::{unreadable, Reply, WechatpayGateway};
use crate::gateway::{RefundGateway, RefundNo, RefundOutcome, RefundRequest};

/// `reason` is string(80).
const MAX_REASON_CHARS: usize = 80;

#[derive(Deserialize)]
struct Refund {
    refund_id: Option<String>,
    status: String,
}

fn outcome_of_answer(bytes: &[u8]) -> RefundOutcome {
    let refund: Refund = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => {
            return RefundOutcome::Ambiguous {
                detail: unreadable("refund", &e),
            }
        }
    };
    match refund_status(&refund.status) {
        RefundCategory::Succeeded => RefundOutcome::Succeeded {
            provider_refund_id: refund.refund_id,
        },
        RefundCategory::InProgress => RefundOutcome::InProgress,
        RefundCategory::Failed => RefundOutcome::Failed {
            code: refund.status,
            reason: "WeChat Pay closed the refund".into(),
        },
        RefundCategory::Abnormal => RefundOutcome::Ambiguous {
            detail: "ABNORMAL: the refund is stuck at the buyer's bank and needs manual handling"
                .into(),
        },
        RefundCategory::Unknown => RefundOutcome::Ambiguous {
            detail: format!("refund status {}", refund.status),
        },
    }
}

#[async_trait]
impl RefundGateway for WechatpayGateway {
    fn provider(&self) -> Provider {
        Provider::Wechatpay
    }

    async fn refund(&self, request: &RefundRequest) -> RefundOutcome {
        let mut body = json!({
            "out_trade_no": request.order_id.as_str(),
            "out_refund_no": request.refund_no.as_str(),
            "notify_url": self.config.notify_url,
            "amount": {
                "refund": request.amount.fen(),
                "total": request.order_total.fen(),
                "currency": "CNY",
            },
        });
        if let Some(reason) = &request.reason {
            body["reason"] = json!(reason.chars().take(MAX_REASON_CHARS).collect::<String>());
        }
        let body = serde_json::to_vec(&body).expect("a JSON value always serializes");
        let path = "/v3/refund/domestic/refunds";
        match self.call(http::Method::POST, path, Some(body), false).await {
            Reply::Done(bytes) => outcome_of_answer(&bytes),
            Reply::Refused { code, .. } => match refund_error(&code) {
                RefundError::Failed => RefundOutcome::Failed {
                    reason: format!("WeChat Pay refused the refund: {code}"),
                    code,
                },
                RefundError::NotDoneYet => RefundOutcome::NotDoneYet {
                    reason: format!("{code}: resend later under the same refund id"),
                },
                RefundError::Ambiguous => RefundOutcome::Ambiguous { detail: code },
            },
            Reply::Unclear(detail) => RefundOutcome::Ambiguous { detail },
        }
    }

    async fn query_refund(&self, _order_id: &OrderId, refund_no: &RefundNo) -> RefundOutcome {
        let path = format!("/v3/refund/domestic/refunds/{}", refund_no.as_str());
        match self.call(http::Method::GET, &path, None, false).await {
            Reply::Done(bytes) => outcome_of_answer(&bytes),
            Reply::Refused { status, code } if is_not_found(status, &code) => {
                RefundOutcome::NotFound
            }
            Reply::Refused { code, .. } => RefundOutcome::Ambiguous { detail: code },
            Reply::Unclear(detail) => RefundOutcome::Ambiguous { detail },
        }
    }
}
