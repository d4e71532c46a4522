//! 商家转账 (user-confirm mode): create, query by `out_bill_no`, cancel.
//! https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/transfer-to-user.html
//!
//! Never twice: the bill number is our payout id mapped onto WeChat's
//! charset (`out_bill_no`, reversible). "On non-200 do not change
//! out_bill_no: query, and only after the query says definitely failed may
//! you issue a new bill" — so a refused create becomes a failure only when a
//! query finds no bill; anything unclear is ambiguous and queried later.
//!
//! `WAIT_USER_CONFIRM`: the payee must confirm in WeChat with
//! `requestMerchantTransfer({mchId, appId, package})` within 24 hours, or
//! WeChat closes the bill (https://pay.weixin.qq.com/doc/v3/merchant/4012716430).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use qrpay_domain::{PayeeAction, PayerAccountKind, PayoutId};
use serde::Deserialize;
use serde_json::json;

use super::codes::{is_not_found, transfer_error, transfer_state, TransferCategory, TransferError};
use super::{unreadable, Reply, WechatpayGateway};
use crate::wechatpay::bill_no::out_bill_no;
use crate::{QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};

/// From ¥2,000 (200,000 fen) WeChat requires the payee's real name
/// (`user_name`, encrypted); qrpay does not hold it, so such payouts are
/// refused at request time and this adapter never sends one.
pub const REAL_NAME_FROM_FEN: i64 = qrpay_domain::payee::WECHAT_REAL_NAME_FROM_FEN;
/// What the payee sees (`transfer_remark`, at most 32 characters).
pub const TRANSFER_REMARK: &str = "商家售后打款";
/// How long the payee has to confirm.
pub const CONFIRM_WINDOW_H: i64 = 24;

#[derive(Deserialize)]
struct Bill {
    state: String,
    transfer_bill_no: Option<String>,
    fail_reason: Option<String>,
    package_info: Option<String>,
    create_time: Option<String>,
}

impl WechatpayGateway {
    fn bill_body(&self, request: &TransferRequest, bill_no: &str) -> Result<Vec<u8>, String> {
        let account = request
            .payee
            .account
            .as_ref()
            .filter(|a| a.kind() == PayerAccountKind::WechatOpenid)
            .ok_or("no WeChat openid for this order's buyer")?;
        if request.amount.fen() >= REAL_NAME_FROM_FEN {
            return Err("WeChat transfers of ¥2,000 or more need the payee's real name".into());
        }
        let scene = self
            .config
            .transfer_scene_id
            .as_deref()
            .ok_or("no transfer scene is configured")?;
        let mut body = json!({
            "appid": self.config.appid,
            "out_bill_no": bill_no,
            "transfer_scene_id": scene,
            "openid": account.expose(),
            "transfer_amount": request.amount.fen(),
            "transfer_remark": TRANSFER_REMARK,
            "notify_url": self.config.notify_url,
        });
        // Scene 1000 (现金营销) requires these two report items; other scenes
        // have their own (UNCONFIRMED until the merchant's scene is granted).
        if scene == "1000" {
            body["transfer_scene_report_infos"] = json!([
                {"info_type": "活动名称", "info_content": "商家售后"},
                {"info_type": "奖励说明", "info_content": "订单售后小额打款"},
            ]);
        }
        Ok(serde_json::to_vec(&body).expect("a JSON value always serializes"))
    }

    /// What a bill's state says, as a query answer.
    fn bill_outcome(&self, bytes: &[u8]) -> QueryOutcome {
        let bill: Bill = match serde_json::from_slice(bytes) {
            Ok(b) => b,
            Err(e) => {
                return QueryOutcome::Ambiguous {
                    detail: unreadable("transfer", &e),
                }
            }
        };
        match transfer_state(&bill.state) {
            TransferCategory::Succeeded => match bill.transfer_bill_no {
                Some(provider_ref) => QueryOutcome::Succeeded { provider_ref },
                None => QueryOutcome::Ambiguous {
                    detail: "SUCCESS without transfer_bill_no".into(),
                },
            },
            TransferCategory::Failed => QueryOutcome::Failed {
                reason: match bill.fail_reason {
                    Some(r) => format!("{}: {r}", bill.state),
                    None => bill.state,
                },
            },
            TransferCategory::InProgress => QueryOutcome::InProgress,
            TransferCategory::AwaitingPayee => match bill.package_info {
                Some(package) => QueryOutcome::AwaitingPayee(PayeeAction::WechatConfirm {
                    mch_id: self.config.mchid.clone(),
                    app_id: self.config.appid.clone(),
                    package,
                    confirm_by: confirm_by(bill.create_time.as_deref(), self.clock.now()),
                }),
                // The query answer may omit the package: still waiting.
                None => QueryOutcome::InProgress,
            },
            TransferCategory::Unknown => QueryOutcome::Ambiguous {
                detail: format!("transfer state {}", bill.state),
            },
        }
    }

    async fn query_bill(&self, bill_no: &str) -> QueryOutcome {
        let path = format!("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{bill_no}");
        match self.call(http::Method::GET, &path, None, false).await {
            Reply::Done(bytes) => self.bill_outcome(&bytes),
            Reply::Refused { status, code } if is_not_found(status, &code) => {
                QueryOutcome::NotFound
            }
            Reply::Refused { code, .. } => QueryOutcome::Ambiguous { detail: code },
            Reply::Unclear(detail) => QueryOutcome::Ambiguous { detail },
        }
    }
}

/// The payee's deadline: 24 hours after the bill was made.
fn confirm_by(create_time: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    let created = create_time
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    created + Duration::hours(CONFIRM_WINDOW_H)
}

fn as_transfer(outcome: QueryOutcome) -> TransferOutcome {
    match outcome {
        QueryOutcome::Succeeded { provider_ref } => TransferOutcome::Succeeded { provider_ref },
        QueryOutcome::Failed { reason } => TransferOutcome::Failed { reason },
        QueryOutcome::InProgress => TransferOutcome::InProgress,
        QueryOutcome::AwaitingPayee(action) => TransferOutcome::AwaitingPayee(action),
        QueryOutcome::Ambiguous { detail } => TransferOutcome::Ambiguous { detail },
        QueryOutcome::NotFound => TransferOutcome::Ambiguous {
            detail: "the bill is not found right after its create".into(),
        },
    }
}

#[async_trait]
impl TransferProvider for WechatpayGateway {
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome {
        let bill_no = match out_bill_no(&request.out_bill_no) {
            Ok(no) => no,
            Err(e) => {
                return TransferOutcome::Failed {
                    reason: e.to_string(),
                }
            }
        };
        // Refused before anything is sent: nothing can have moved.
        let body = match self.bill_body(request, &bill_no) {
            Ok(body) => body,
            Err(reason) => return TransferOutcome::Failed { reason },
        };
        let path = "/v3/fund-app/mch-transfer/transfer-bills";
        match self.call(http::Method::POST, path, Some(body), true).await {
            Reply::Done(bytes) => as_transfer(self.bill_outcome(&bytes)),
            Reply::Refused { code, .. } => match transfer_error(&code) {
                TransferError::RefusedIfNoBill => match self.query_bill(&bill_no).await {
                    QueryOutcome::NotFound => TransferOutcome::Failed {
                        reason: format!("WeChat Pay refused the transfer: {code}"),
                    },
                    other => as_transfer(other),
                },
                TransferError::Ambiguous => TransferOutcome::Ambiguous { detail: code },
            },
            Reply::Unclear(detail) => TransferOutcome::Ambiguous { detail },
        }
    }

    async fn query(&self, payout_id: &PayoutId) -> QueryOutcome {
        match out_bill_no(payout_id) {
            Ok(bill_no) => self.query_bill(&bill_no).await,
            // Never sent under an id that does not map: nothing to find.
            Err(_) => QueryOutcome::NotFound,
        }
    }

    async fn cancel(&self, payout_id: &PayoutId) -> QueryOutcome {
        let Ok(bill_no) = out_bill_no(payout_id) else {
            return QueryOutcome::NotFound;
        };
        let path = format!("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{bill_no}/cancel");
        match self.call(http::Method::POST, &path, None, false).await {
            // Accepted is not done: CANCELING, or CANCELLED at once.
            Reply::Done(bytes) => self.bill_outcome(&bytes),
            Reply::Refused { status, code } if is_not_found(status, &code) => {
                QueryOutcome::NotFound
            }
            // Too late to cancel (confirmed, finished): the bill says what.
            Reply::Refused { .. } => self.query_bill(&bill_no).await,
            Reply::Unclear(detail) => QueryOutcome::Ambiguous { detail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payee_has_24_hours_from_the_bills_creation() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let by = confirm_by(Some("2026-03-01T10:00:00+08:00"), now);
        assert_eq!(by.to_rfc3339(), "2026-03-02T02:00:00+00:00");
        assert_eq!(confirm_by(None, now), now + Duration::hours(24));
        assert_eq!(confirm_by(Some("garbage"), now), now + Duration::hours(24));
    }
}
