//! Refunds: `alipay.trade.refund` with our refund id as `out_request_no`
//! ("支付宝会保证同样的退款请求号多次请求只会退一次", GATEWAYS.md §2.5) and
//! `alipay.trade.fastpay.refund.query`. Error codes: the official
//! `alipay.trade.refund` business error table (as carried by SDK code, e.g.
//! 系统错误/参数无效/卖家余额不足/退款金额超限/…/当前交易不允许退款), GATEWAYS.md §4.
//!
//! `fund_change` says whether *this call* moved money: `Y` is done, `N` is
//! a repeat of an earlier refund or nothing moved yet, so only the refund
//! query can tell (GATEWAYS.md §2.5; Alipay's advice is to confirm with
//! `alipay.trade.fastpay.refund.query`). The query's `refund_status` is
//! `REFUND_SUCCESS` once the money went back; absent means not refunded
//! (yet), and the refund is resent under the same `out_request_no`.

use async_trait::async_trait;
use qrpay_domain::{OrderId, Provider};
use serde_json::json;

use super::{text, AlipayGateway, ErrorAnswer, ErrorKind, Reply};
use crate::gateway::{RefundGateway, RefundNo, RefundOutcome, RefundRequest};

const REFUND: &str = "alipay.trade.refund";
const REFUND_QUERY: &str = "alipay.trade.fastpay.refund.query";
/// `refund_reason` is String(256).
const MAX_REASON_CHARS: usize = 256;

#[async_trait]
impl RefundGateway for AlipayGateway {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    async fn refund(&self, request: &RefundRequest) -> RefundOutcome {
        let mut biz = json!({
            "out_trade_no": request.order_id.as_str(),
            "out_request_no": request.refund_no.as_str(),
            "refund_amount": request.amount.to_string(),
        });
        if let Some(reason) = request
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            biz["refund_reason"] = reason
                .chars()
                .take(MAX_REASON_CHARS)
                .collect::<String>()
                .into();
        }
        let echo = ("out_trade_no", request.order_id.as_str());
        refund_outcome(self.call(REFUND, &biz, false, echo).await)
    }

    async fn query_refund(&self, order_id: &OrderId, refund_no: &RefundNo) -> RefundOutcome {
        let biz = json!({
            "out_trade_no": order_id.as_str(),
            "out_request_no": refund_no.as_str(),
        });
        let echo = ("out_request_no", refund_no.as_str());
        refund_query_outcome(self.call(REFUND_QUERY, &biz, false, echo).await)
    }
}

/// `alipay.trade.refund`'s answer (GATEWAYS.md §4 "Alipay refund").
fn refund_outcome(reply: Reply) -> RefundOutcome {
    let error = match reply {
        Reply::Success(answer) => {
            return match text(&answer, "fund_change") {
                Some("Y") => RefundOutcome::Succeeded {
                    provider_refund_id: None,
                },
                Some("N") => RefundOutcome::Ambiguous {
                    detail: "fund_change=N: a repeat or not moved yet; query the refund".into(),
                },
                _ => RefundOutcome::Ambiguous {
                    detail: "code 10000 without fund_change".into(),
                },
            }
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return RefundOutcome::Ambiguous { detail },
    };
    match error.kind() {
        // The merchant's balance is short: top up, resend the same refund id.
        ErrorKind::Business("ACQ.SELLER_BALANCE_NOT_ENOUGH") => RefundOutcome::NotDoneYet {
            reason: error.describe(),
        },
        // Definitive: this refund will not happen as asked.
        ErrorKind::Business(
            "ACQ.INVALID_PARAMETER"
            | "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
            | "ACQ.REASON_TRADE_BEEN_FREEZEN"
            | "ACQ.TRADE_NOT_EXIST"
            | "ACQ.TRADE_HAS_FINISHED"
            | "ACQ.TRADE_STATUS_ERROR"
            | "ACQ.REASON_TRADE_REFUND_FEE_ERR"
            | "ACQ.TRADE_NOT_ALLOW_REFUND"
            | "ACQ.REFUND_FEE_ERROR",
        )
        | ErrorKind::RefusedByGateway => failed(&error),
        // DISCORDANT_REPEAT_REQUEST: this refund id was used before with
        // other parameters, and that earlier refund may have gone through.
        ErrorKind::Business("ACQ.SYSTEM_ERROR" | "ACQ.DISCORDANT_REPEAT_REQUEST")
        | ErrorKind::Unavailable
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => RefundOutcome::Ambiguous {
            detail: error.describe(),
        },
    }
}

/// `alipay.trade.fastpay.refund.query`'s answer.
fn refund_query_outcome(reply: Reply) -> RefundOutcome {
    let error = match reply {
        Reply::Success(answer) => {
            return match text(&answer, "refund_status") {
                Some("REFUND_SUCCESS") => RefundOutcome::Succeeded {
                    provider_refund_id: None,
                },
                // Not refunded (yet): resend under the same out_request_no.
                None => RefundOutcome::NotFound,
                Some(_) => RefundOutcome::Ambiguous {
                    detail: "code 10000 with an unknown refund_status".into(),
                },
            };
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return RefundOutcome::Ambiguous { detail },
    };
    match error.kind() {
        // No such trade, so no such refund ("查询退款的交易不存在").
        ErrorKind::Business("ACQ.TRADE_NOT_EXIST" | "TRADE_NOT_EXIST") => RefundOutcome::NotFound,
        // A query that failed says nothing about the refund.
        ErrorKind::Business("ACQ.SYSTEM_ERROR" | "ACQ.INVALID_PARAMETER")
        | ErrorKind::Unavailable
        | ErrorKind::RefusedByGateway
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => RefundOutcome::Ambiguous {
            detail: error.describe(),
        },
    }
}

fn failed(error: &ErrorAnswer) -> RefundOutcome {
    RefundOutcome::Failed {
        code: error.code(),
        reason: error.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::replies::{business, error, success};

    fn is_ambiguous(outcome: &RefundOutcome) -> bool {
        matches!(outcome, RefundOutcome::Ambiguous { .. })
    }

    #[test]
    fn fund_change_y_is_done_and_n_asks_for_a_query() {
        assert_eq!(
            refund_outcome(success(json!({"fund_change": "Y", "refund_fee": "10.00"}))),
            RefundOutcome::Succeeded {
                provider_refund_id: None
            }
        );
        assert!(is_ambiguous(&refund_outcome(success(
            json!({"fund_change": "N"})
        ))));
        assert!(is_ambiguous(&refund_outcome(success(json!({})))));
    }

    #[test]
    fn a_short_balance_is_not_done_yet() {
        assert_eq!(
            refund_outcome(business("ACQ.SELLER_BALANCE_NOT_ENOUGH")),
            RefundOutcome::NotDoneYet {
                reason: "40004 ACQ.SELLER_BALANCE_NOT_ENOUGH: 说明".into()
            }
        );
    }

    #[test]
    fn definitive_refund_failures_name_the_sub_code() {
        for sub_code in [
            "ACQ.INVALID_PARAMETER",
            "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
            "ACQ.REASON_TRADE_BEEN_FREEZEN",
            "ACQ.TRADE_NOT_EXIST",
            "ACQ.TRADE_HAS_FINISHED",
            "ACQ.TRADE_STATUS_ERROR",
            "ACQ.REASON_TRADE_REFUND_FEE_ERR",
            "ACQ.TRADE_NOT_ALLOW_REFUND",
            "ACQ.REFUND_FEE_ERROR",
        ] {
            assert_eq!(
                refund_outcome(business(sub_code)),
                RefundOutcome::Failed {
                    code: sub_code.into(),
                    reason: format!("40004 {sub_code}: 说明")
                }
            );
        }
        for code in ["20001", "40001", "40002", "40006"] {
            assert!(matches!(
                refund_outcome(error(code, None)),
                RefundOutcome::Failed { code: c, .. } if c == code
            ));
        }
    }

    #[test]
    fn refund_system_errors_repeats_and_unknown_codes_are_ambiguous() {
        for sub_code in [
            "ACQ.SYSTEM_ERROR",
            "ACQ.DISCORDANT_REPEAT_REQUEST",
            "ACQ.NEW_CODE",
        ] {
            assert!(
                is_ambiguous(&refund_outcome(business(sub_code))),
                "{sub_code}"
            );
        }
        assert!(is_ambiguous(&refund_outcome(error(
            "20000",
            Some("isp.unknow-error")
        ))));
        assert!(is_ambiguous(&refund_outcome(error("40004", None))));
        assert!(is_ambiguous(&refund_outcome(Reply::Untrusted("x".into()))));
    }

    #[test]
    fn refund_query_maps_code_by_code() {
        assert_eq!(
            refund_query_outcome(success(json!({"refund_status": "REFUND_SUCCESS"}))),
            RefundOutcome::Succeeded {
                provider_refund_id: None
            }
        );
        assert_eq!(
            refund_query_outcome(success(json!({"out_request_no": "rf_1"}))),
            RefundOutcome::NotFound
        );
        assert_eq!(
            refund_query_outcome(success(json!({"refund_status": ""}))),
            RefundOutcome::NotFound
        );
        assert!(is_ambiguous(&refund_query_outcome(success(
            json!({"refund_status": "REFUND_PROCESSING"})
        ))));
        assert_eq!(
            refund_query_outcome(business("ACQ.TRADE_NOT_EXIST")),
            RefundOutcome::NotFound
        );
        assert_eq!(
            refund_query_outcome(business("TRADE_NOT_EXIST")),
            RefundOutcome::NotFound
        );
        for reply in [
            business("ACQ.SYSTEM_ERROR"),
            business("ACQ.INVALID_PARAMETER"),
            business("ACQ.NEW_CODE"),
            error("20000", None),
            error("40002", None),
            Reply::Untrusted("x".into()),
        ] {
            assert!(is_ambiguous(&refund_query_outcome(reply)));
        }
    }
}
