//! WeChat Pay's documented answers mapped onto SPEC §4's categories, one
//! table per operation. The HTTP status and `code` of an error describe only
//! that request, never the order, refund or bill: every code that might hide
//! a state we do not know is "query first" or ambiguous, never a failure.
//!
//! Sources: collection errors — https://pay.weixin.qq.com/doc/v3/merchant/4012525171
//! (Native, the same table for JSAPI/H5); trade states — query by
//! out_trade_no; refunds — https://pay.weixin.qq.com/doc/v3/merchant/4012556457
//! and https://pay.weixin.qq.com/doc/v3/merchant/4012552567; transfers —
//! https://pay.weixin.qq.com/docs/merchant/apis/mch-trans/transfer-bill/transfer-to-user.html
//! ("商户需要使用原商户单号…请勿更换商户单号"); bills —
//! https://pay.weixin.qq.com/docs/merchant/apis/jsapi-payment/get-trade-bill.html
//! and the bill FAQ https://pay.weixin.qq.com/doc/v3/merchant/4013071254.

/// What a create-order error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateError {
    /// The request itself is wrong (configuration, parameters): no order was
    /// made and resending it the same way will not help.
    Refused,
    /// The order may exist already (paid, closed, or made with other
    /// parameters): query before deciding.
    QueryFirst,
    /// WeChat could not say: try again later with the same parameters.
    Ambiguous,
}

/// Native / JSAPI / H5 create errors.
pub fn create_error(code: &str) -> CreateError {
    match code {
        "PARAM_ERROR"
        | "INVALID_REQUEST"
        | "APPID_MCHID_NOT_MATCH"
        | "MCH_NOT_EXISTS"
        | "SIGN_ERROR"
        | "NO_AUTH"
        | "RULE_LIMIT"
        | "ACCOUNT_ERROR"
        | "OPENID_MISMATCH" => CreateError::Refused,
        // "请核实商户订单号是否重复提交": the same out_trade_no with other
        // parameters, or an order already paid or closed.
        "OUT_TRADE_NO_USED" | "TRADE_ERROR" | "ORDER_CLOSED" | "ORDERPAID" => {
            CreateError::QueryFirst
        }
        // "系统异常，请用相同参数重新调用", rate limits, and anything unknown.
        _ => CreateError::Ambiguous,
    }
}

/// A trade's `trade_state` in a query answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeCategory {
    Paid,
    Waiting,
    Closed,
    Unknown,
}

pub fn trade_state(state: &str) -> TradeCategory {
    match state {
        // REFUND: paid, then (partly) refunded.
        "SUCCESS" | "REFUND" => TradeCategory::Paid,
        "NOTPAY" | "USERPAYING" => TradeCategory::Waiting,
        "CLOSED" | "REVOKED" | "PAYERROR" => TradeCategory::Closed,
        _ => TradeCategory::Unknown,
    }
}

/// Codes by which a query says "no such order / refund / bill".
pub fn is_not_found(status: u16, code: &str) -> bool {
    status == 404
        && matches!(
            code,
            "ORDER_NOT_EXIST" | "RESOURCE_NOT_EXISTS" | "NOT_FOUND"
        )
}

/// A refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundCategory {
    Succeeded,
    InProgress,
    /// `CLOSED`: the refund will not happen.
    Failed,
    /// `ABNORMAL`: stuck at the buyer's bank; someone must act
    /// (`apply-abnormal-refund`). The money's state is not known to us.
    Abnormal,
    Unknown,
}

pub fn refund_status(status: &str) -> RefundCategory {
    match status {
        "SUCCESS" => RefundCategory::Succeeded,
        "PROCESSING" => RefundCategory::InProgress,
        "CLOSED" => RefundCategory::Failed,
        "ABNORMAL" => RefundCategory::Abnormal,
        _ => RefundCategory::Unknown,
    }
}

/// What a refund-create error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundError {
    /// Definitive: this refund will not happen (too much, account closed).
    Failed,
    /// Not done; resend the same `out_refund_no` later (balance short).
    NotDoneYet,
    Ambiguous,
}

pub fn refund_error(code: &str) -> RefundError {
    match code {
        "PARAM_ERROR"
        | "INVALID_REQUEST"
        | "USER_ACCOUNT_ABNORMAL"
        | "MCH_NOT_EXISTS"
        | "RESOURCE_NOT_EXISTS"
        | "SIGN_ERROR"
        | "NO_AUTH" => RefundError::Failed,
        "NOT_ENOUGH" => RefundError::NotDoneYet,
        // "该笔退款为受理中，请调用查单接口确认" / "请不要更换商户退款单号".
        _ => RefundError::Ambiguous,
    }
}

/// A transfer bill's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferCategory {
    Succeeded,
    Failed,
    InProgress,
    /// `WAIT_USER_CONFIRM`: the payee must confirm in WeChat.
    AwaitingPayee,
    Unknown,
}

pub fn transfer_state(state: &str) -> TransferCategory {
    match state {
        "SUCCESS" => TransferCategory::Succeeded,
        // Closed: unconfirmed for 24 h, refused, or cancelled by us.
        "FAIL" | "CANCELLED" => TransferCategory::Failed,
        "ACCEPTED" | "PROCESSING" | "TRANSFERING" | "CANCELING" => TransferCategory::InProgress,
        "WAIT_USER_CONFIRM" => TransferCategory::AwaitingPayee,
        _ => TransferCategory::Unknown,
    }
}

/// What a transfer-create error means. Never a failure by itself: only a
/// query that finds no bill makes a refused create definitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// The request was refused as such (parameters, limits, signature,
    /// permission): a failure once a query confirms there is no bill.
    RefusedIfNoBill,
    /// Unknown, or "funds short: top up and retry the same out_bill_no"
    /// (`NOT_ENOUGH`: WeChat keeps trying to lock the funds): query later.
    Ambiguous,
}

pub fn transfer_error(code: &str) -> TransferError {
    match code {
        "PARAM_ERROR" | "INVALID_REQUEST" | "SIGN_ERROR" | "NO_AUTH" => {
            TransferError::RefusedIfNoBill
        }
        _ => TransferError::Ambiguous,
    }
}

/// What a bill-apply error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillError {
    /// "账单生成中": being made (from 09:00 the next day); ask again.
    NotYet,
    /// "请求的账单文件不存在": no collection or refund (fund bill: no movement
    /// on that account) that day. Final.
    NoBill,
    /// The request as we make it is wrong (date format, a date older than
    /// three months, signature, permission): asking again will not help.
    Refused,
    /// `SYSTEM_ERROR`, `RATELIMIT_EXCEED`, `FREQUENCY_LIMITED`, anything
    /// unknown: ask again.
    Ambiguous,
}

pub fn bill_error(status: u16, code: &str) -> BillError {
    match (status, code) {
        (400, "STATEMENT_CREATING") => BillError::NotYet,
        (400, "NO_STATEMENT_EXIST") => BillError::NoBill,
        (_, "PARAM_ERROR" | "INVALID_REQUEST" | "SIGN_ERROR" | "NO_AUTH" | "MCH_NOT_EXISTS") => {
            BillError::Refused
        }
        _ => BillError::Ambiguous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_errors_code_by_code() {
        for code in [
            "PARAM_ERROR",
            "INVALID_REQUEST",
            "APPID_MCHID_NOT_MATCH",
            "MCH_NOT_EXISTS",
            "SIGN_ERROR",
            "NO_AUTH",
            "RULE_LIMIT",
            "ACCOUNT_ERROR",
            "OPENID_MISMATCH",
        ] {
            assert_eq!(create_error(code), CreateError::Refused, "{code}");
        }
        for code in [
            "OUT_TRADE_NO_USED",
            "TRADE_ERROR",
            "ORDER_CLOSED",
            "ORDERPAID",
        ] {
            assert_eq!(create_error(code), CreateError::QueryFirst, "{code}");
        }
        for code in [
            "SYSTEM_ERROR",
            "BANK_ERROR",
            "FREQUENCY_LIMITED",
            "NEW_CODE",
            "",
        ] {
            assert_eq!(create_error(code), CreateError::Ambiguous, "{code}");
        }
    }

    #[test]
    fn trade_states_code_by_code() {
        let table = [
            ("SUCCESS", TradeCategory::Paid),
            ("REFUND", TradeCategory::Paid),
            ("NOTPAY", TradeCategory::Waiting),
            ("USERPAYING", TradeCategory::Waiting),
            ("CLOSED", TradeCategory::Closed),
            ("REVOKED", TradeCategory::Closed),
            ("PAYERROR", TradeCategory::Closed),
            ("ACCEPT", TradeCategory::Unknown),
            ("success", TradeCategory::Unknown),
        ];
        for (state, want) in table {
            assert_eq!(trade_state(state), want, "{state}");
        }
    }

    #[test]
    fn not_found_needs_a_404_and_a_not_found_code() {
        assert!(is_not_found(404, "ORDER_NOT_EXIST"));
        assert!(is_not_found(404, "RESOURCE_NOT_EXISTS"));
        assert!(is_not_found(404, "NOT_FOUND"));
        assert!(!is_not_found(404, "MCH_NOT_EXISTS"));
        assert!(!is_not_found(400, "ORDER_NOT_EXIST"));
        assert!(!is_not_found(500, "SYSTEM_ERROR"));
    }

    #[test]
    fn refund_statuses_and_errors_code_by_code() {
        let statuses = [
            ("SUCCESS", RefundCategory::Succeeded),
            ("PROCESSING", RefundCategory::InProgress),
            ("CLOSED", RefundCategory::Failed),
            ("ABNORMAL", RefundCategory::Abnormal),
            ("OTHER", RefundCategory::Unknown),
        ];
        for (status, want) in statuses {
            assert_eq!(refund_status(status), want, "{status}");
        }
        for code in [
            "PARAM_ERROR",
            "INVALID_REQUEST",
            "USER_ACCOUNT_ABNORMAL",
            "MCH_NOT_EXISTS",
            "RESOURCE_NOT_EXISTS",
            "SIGN_ERROR",
            "NO_AUTH",
        ] {
            assert_eq!(refund_error(code), RefundError::Failed, "{code}");
        }
        assert_eq!(refund_error("NOT_ENOUGH"), RefundError::NotDoneYet);
        for code in ["SYSTEM_ERROR", "FREQUENCY_LIMITED", "NEW_CODE"] {
            assert_eq!(refund_error(code), RefundError::Ambiguous, "{code}");
        }
    }

    #[test]
    fn transfer_states_and_errors_code_by_code() {
        let states = [
            ("SUCCESS", TransferCategory::Succeeded),
            ("FAIL", TransferCategory::Failed),
            ("CANCELLED", TransferCategory::Failed),
            ("ACCEPTED", TransferCategory::InProgress),
            ("PROCESSING", TransferCategory::InProgress),
            ("TRANSFERING", TransferCategory::InProgress),
            ("CANCELING", TransferCategory::InProgress),
            ("WAIT_USER_CONFIRM", TransferCategory::AwaitingPayee),
            ("DONE", TransferCategory::Unknown),
        ];
        for (state, want) in states {
            assert_eq!(transfer_state(state), want, "{state}");
        }
        for code in ["PARAM_ERROR", "INVALID_REQUEST", "SIGN_ERROR", "NO_AUTH"] {
            assert_eq!(
                transfer_error(code),
                TransferError::RefusedIfNoBill,
                "{code}"
            );
        }
        for code in [
            "NOT_ENOUGH",
            "SYSTEM_ERROR",
            "FREQUENCY_LIMITED",
            "NEW_CODE",
        ] {
            assert_eq!(transfer_error(code), TransferError::Ambiguous, "{code}");
        }
    }

    #[test]
    fn bill_errors_code_by_code() {
        let table = [
            (400, "STATEMENT_CREATING", BillError::NotYet),
            (400, "NO_STATEMENT_EXIST", BillError::NoBill),
            (400, "PARAM_ERROR", BillError::Refused),
            (400, "INVALID_REQUEST", BillError::Refused),
            (401, "SIGN_ERROR", BillError::Refused),
            (403, "NO_AUTH", BillError::Refused),
            (400, "MCH_NOT_EXISTS", BillError::Refused),
            (429, "RATELIMIT_EXCEED", BillError::Ambiguous),
            (429, "FREQUENCY_LIMITED", BillError::Ambiguous),
            (404, "STATEMENT_CREATING", BillError::Ambiguous),
            (403, "NO_STATEMENT_EXIST", BillError::Ambiguous),
            (400, "NEW_CODE", BillError::Ambiguous),
        ];
        for (status, code, want) in table {
            assert_eq!(bill_error(status, code), want, "{status} {code}");
        }
    }
}
