//! The mapping tables: each ecpay answer onto SPEC §4's categories, one
//! table per operation, matched on the documented `err_no` and status.
//! Anything a table does not name is ambiguous.

use qrpay_domain::{Amount, OrderId};

use super::answer::{
    present, tips, CreateOrderAnswer, CreateRefundAnswer, QueryOrderAnswer, QueryRefundAnswer,
};
use crate::gateway::{CloseOutcome, CreateOutcome, ProviderCode, RefundOutcome, TradeState};

/// Douyin's `order_id`/`refund_no` (19-20 digits in the samples).
const MAX_DOUYIN_ID_LEN: usize = 64;
/// `order_token` (about 130 characters in the sample).
const MAX_ORDER_TOKEN_LEN: usize = 4096;

/// The documented `err_no` values. query_order page
/// (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/server/ecpay/pay-list/query)
/// and query_refund page (…/ecpay/refund-list/query).
mod err_no {
    pub const OK: i64 = 0;
    /// 内部异常: "当前请求可能成功也可能失败", retry with the same parameters.
    pub const INTERNAL: i64 = 1000;
    /// 业务繁忙: rate limited, retry later with the same id.
    pub const BUSY: i64 = 1001;
    /// 支付记录不存在 (query_order).
    pub const PAYMENT_NOT_FOUND: i64 = 2000;
    /// 签名校验异常.
    pub const BAD_SIGN: i64 = 2008;
    /// 参数错误 / 业务参数处理异常.
    pub const BAD_PARAMETERS: i64 = 2010;
    /// 小程序appid无效.
    pub const BAD_APP_ID: i64 = 2042;
    /// 服务商id无效 (we send no `thirdparty_id`).
    pub const BAD_THIRDPARTY_ID: i64 = 2047;
    /// 未查询到服务商与小程序的授权关系.
    pub const NOT_AUTHORIZED: i64 = 2048;
    /// 退款记录不存在 (query_refund).
    pub const REFUND_NOT_FOUND: i64 = 3101;
}

/// `order_status` (query_order) and `refund_status` (query_refund).
const SUCCESS: &str = "SUCCESS";
const PROCESSING: &str = "PROCESSING";
const FAIL: &str = "FAIL";
const TIMEOUT: &str = "TIMEOUT";

/// `create_order` answer → outcome.
pub(super) fn create_outcome(answer: &CreateOrderAnswer) -> CreateOutcome {
    let order = answer.data.as_ref();
    let order_id = present(order.and_then(|o| o.order_id.as_deref()), MAX_DOUYIN_ID_LEN);
    let token = present(
        order.and_then(|o| o.order_token.as_deref()),
        MAX_ORDER_TOKEN_LEN,
    );
    match (answer.err_no, order_id, token) {
        (err_no::OK, Some(order_id), Some(order_token)) => {
            CreateOutcome::Created(ProviderCode::CashierOrder {
                order_id: order_id.to_owned(),
                order_token: order_token.to_owned(),
            })
        }
        (err_no::OK, _, _) => CreateOutcome::Ambiguous {
            detail: "create_order: err_no 0 without data.order_id and data.order_token".into(),
        },
        (
            code @ (err_no::BAD_SIGN
            | err_no::BAD_PARAMETERS
            | err_no::BAD_APP_ID
            | err_no::BAD_THIRDPARTY_ID
            | err_no::NOT_AUTHORIZED),
            _,
            _,
        ) => CreateOutcome::Refused {
            code: code.to_string(),
            reason: tips(answer.err_tips.as_deref()),
        },
        (err_no::INTERNAL | err_no::BUSY, _, _) => CreateOutcome::Ambiguous {
            detail: unsettled("create_order", answer.err_no, answer.err_tips.as_deref()),
        },
        (_, _, _) => CreateOutcome::Ambiguous {
            detail: undocumented("create_order", answer.err_no, answer.err_tips.as_deref()),
        },
    }
}

/// `query_order` answer → the order's state at Douyin.
pub(super) fn trade_state(answer: &QueryOrderAnswer, ours: &OrderId) -> TradeState {
    let names_ours = answer.out_order_no.as_deref() == Some(ours.as_str());
    let ambiguous = |detail: String| TradeState::Ambiguous { detail };
    match (answer.err_no, answer.order_status()) {
        (err_no::OK, _) if !names_ours => {
            ambiguous("query_order: err_no 0 without our out_order_no".into())
        }
        (err_no::OK, Some(SUCCESS)) => paid(answer),
        (err_no::OK, Some(PROCESSING)) => TradeState::Waiting,
        (err_no::OK, Some(status @ (FAIL | TIMEOUT))) => TradeState::Closed {
            reason: format!("order_status {status}"),
        },
        (err_no::OK, _) => {
            ambiguous("query_order: err_no 0 without a documented order_status".into())
        }
        (err_no::PAYMENT_NOT_FOUND, _) => TradeState::NotFound,
        (err_no::INTERNAL | err_no::BUSY, _) => ambiguous(unsettled(
            "query_order",
            answer.err_no,
            answer.err_tips.as_deref(),
        )),
        (_, _) => ambiguous(undocumented(
            "query_order",
            answer.err_no,
            answer.err_tips.as_deref(),
        )),
    }
}

/// A paid order needs Douyin's `order_id` (the payment notice's `order_id`,
/// our `provider_txn_id`) and a positive `total_fee`. No `PayerAccount`:
/// Douyin names no buyer account we could pay back to.
fn paid(answer: &QueryOrderAnswer) -> TradeState {
    let txn = present(answer.order_id.as_deref(), MAX_DOUYIN_ID_LEN);
    let amount = answer
        .payment_info
        .as_ref()
        .and_then(|p| p.total_fee)
        .and_then(|fen| Amount::from_fen(fen).ok());
    match (txn, amount) {
        (Some(txn), Some(amount)) => TradeState::Paid {
            provider_txn_id: txn.to_owned(),
            amount,
            account: None,
        },
        _ => TradeState::Ambiguous {
            detail: "query_order: SUCCESS without order_id and a positive total_fee".into(),
        },
    }
}

/// What closing an ecpay order can honestly say, from a query.
pub(super) fn close_outcome(state: TradeState) -> CloseOutcome {
    match state {
        TradeState::Paid { .. } => CloseOutcome::AlreadyPaid,
        // FAIL or TIMEOUT: Douyin itself says it will not be paid.
        TradeState::Closed { .. } => CloseOutcome::Closed,
        // 支付记录不存在: nothing at Douyin to close.
        TradeState::NotFound => CloseOutcome::NotFound,
        // PROCESSING: payable until `valid_time`, and there is no call to stop it.
        TradeState::Waiting => CloseOutcome::Ambiguous {
            detail: "ecpay has no close call: the order stays payable until its valid_time".into(),
        },
        TradeState::Ambiguous { detail } => CloseOutcome::Ambiguous { detail },
    }
}

/// `create_refund` answer → outcome. err_no 0 means accepted, not done
/// ("申请退款接口的返回仅代表业务的受理情况", refund page).
pub(super) fn refund_created(answer: &CreateRefundAnswer) -> RefundOutcome {
    match answer.err_no {
        err_no::OK => RefundOutcome::InProgress,
        code @ (err_no::BAD_SIGN
        | err_no::BAD_PARAMETERS
        | err_no::BAD_APP_ID
        | err_no::BAD_THIRDPARTY_ID
        | err_no::NOT_AUTHORIZED) => RefundOutcome::Failed {
            code: code.to_string(),
            reason: tips(answer.err_tips.as_deref()),
        },
        err_no::INTERNAL | err_no::BUSY => RefundOutcome::Ambiguous {
            detail: unsettled("create_refund", answer.err_no, answer.err_tips.as_deref()),
        },
        _ => RefundOutcome::Ambiguous {
            detail: undocumented("create_refund", answer.err_no, answer.err_tips.as_deref()),
        },
    }
}

/// `query_refund` answer → outcome.
pub(super) fn refund_state(answer: &QueryRefundAnswer) -> RefundOutcome {
    let info = answer.refund_info.as_ref();
    let refund_no = present(info.and_then(|i| i.refund_no.as_deref()), MAX_DOUYIN_ID_LEN);
    match (answer.err_no, answer.refund_status(), refund_no) {
        (err_no::OK, Some(SUCCESS), Some(refund_no)) => RefundOutcome::Succeeded {
            provider_refund_id: Some(refund_no.to_owned()),
        },
        (err_no::OK, Some(PROCESSING), _) => RefundOutcome::InProgress,
        (err_no::OK, Some(FAIL), _) => RefundOutcome::Failed {
            code: FAIL.into(),
            reason: tips(info.and_then(|i| i.msg.as_deref())),
        },
        (err_no::OK, _, _) => RefundOutcome::Ambiguous {
            detail: "query_refund: err_no 0 without a documented refund_status and refund_no"
                .into(),
        },
        (err_no::REFUND_NOT_FOUND, _, _) => RefundOutcome::NotFound,
        (err_no::INTERNAL | err_no::BUSY, _, _) => RefundOutcome::Ambiguous {
            detail: unsettled("query_refund", answer.err_no, answer.err_tips.as_deref()),
        },
        (_, _, _) => RefundOutcome::Ambiguous {
            detail: undocumented("query_refund", answer.err_no, answer.err_tips.as_deref()),
        },
    }
}

/// 1000/1001: documented as "may or may not have happened" / "retry later".
fn unsettled(operation: &str, err_no: i64, err_tips: Option<&str>) -> String {
    format!(
        "{operation}: err_no {err_no} ({}), retry with the same id",
        tips(err_tips)
    )
}

fn undocumented(operation: &str, err_no: i64, err_tips: Option<&str>) -> String {
    format!(
        "{operation}: undocumented err_no {err_no} ({})",
        tips(err_tips)
    )
}
