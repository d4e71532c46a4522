//! Transfers (payouts), certificate mode only: `alipay.fund.trans.uni.transfer`
//! (`product_code` TRANS_ACCOUNT_NO_PWD, `biz_scene` DIRECT_TRANSFER) and
//! `alipay.fund.trans.common.query`. Fields: GATEWAYS.md §2.5 (official Java
//! SDK `AlipayFundTransUniTransferModel`, `Participant`,
//! `AlipayFundTransCommonQueryResponse`; python-alipay-sdk's docstring cites
//! https://opendocs.alipay.com/apis/api_28/alipay.fund.trans.uni.transfer).
//! Error codes: Alipay's transfer error table (转账到支付宝账户, as reproduced in
//! SDK code: 收款账号不存在, 支付宝账号和姓名不匹配, 付款方余额不足, …).
//!
//! `out_biz_no` is our payout id verbatim ("只支持半角英文、数字，及“-”、“_”",
//! which `PayoutId` guarantees). Alipay answers a repeated `out_biz_no` with
//! the earlier result, and the official rule after a timeout, `20000` or
//! `SYSTEM_ERROR` is: query, and if nothing is found resend the same request
//! unchanged ("如果未查询到结果，请保持原请求不变再次请求"). So every field of
//! the request is a function of the `TransferRequest` alone.

use async_trait::async_trait;
use qrpay_domain::{PayerAccountKind, PayoutId};
use serde_json::{json, Map, Value};

use super::{text, AlipayGateway, ErrorKind, Reply};
use crate::{QueryOutcome, TransferOutcome, TransferProvider, TransferRequest};

const TRANSFER: &str = "alipay.fund.trans.uni.transfer";
const TRANSFER_QUERY: &str = "alipay.fund.trans.common.query";
const PRODUCT_CODE: &str = "TRANS_ACCOUNT_NO_PWD";
const BIZ_SCENE: &str = "DIRECT_TRANSFER";
/// TRANS_ACCOUNT_NO_PWD moves at least 0.10 yuan (`trans_amount` [0.1, 100000000]).
const MIN_TRANSFER_FEN: i64 = 10;
/// Alipay takes fund APIs only in public-key certificate mode.
const NEEDS_CERTIFICATES: &str = "Alipay transfers need certificate mode (ALIPAY_APP_CERT, \
     ALIPAY_PUBLIC_CERT, ALIPAY_ROOT_CERT)";

/// `sub_code`s that fail a transfer for good: nothing moved and this
/// request will not move money (the payee cannot receive, the payer cannot
/// pay, a limit is passed, a parameter is wrong). PAYER_BALANCE_NOT_ENOUGH is
/// one: unlike WeChat, Alipay does not keep trying, so the payout fails and
/// the merchant may pay again once topped up.
const PAYOUT_REFUSALS: [&str; 35] = [
    "INVALID_PARAMETER",
    "PAYEE_NOT_EXIST",
    "PAYEE_ACCOUNT_NOT_EXSIT",
    "PAYEE_USER_INFO_ERROR",
    "PAYEE_ACCOUNT_STATUS_ERROR",
    "PAYEE_USERINFO_STATUS_ERROR",
    "PAYEE_ACC_OCUPIED",
    "PAYEE_NOT_RELNAME_CERTIFY",
    "PERM_AML_NOT_REALNAME_REV",
    "PERMIT_NON_BANK_LIMIT_PAYEE",
    "EXCEED_LIMIT_SM_AMOUNT",
    "EXCEED_LIMIT_SM_MIN_AMOUNT",
    "EXCEED_LIMIT_DM_AMOUNT",
    "EXCEED_LIMIT_DM_MAX_AMOUNT",
    "EXCEED_LIMIT_MM_AMOUNT",
    "EXCEED_LIMIT_PERSONAL_SM_AMOUNT",
    "EXCEED_LIMIT_ENT_SM_AMOUNT",
    "EXCEED_LIMIT_UNRN_DM_AMOUNT",
    "PAYER_BALANCE_NOT_ENOUGH",
    "PAYCARD_UNABLE_PAYMENT",
    "PAYER_STATUS_ERROR",
    "PAYER_USER_INFO_ERROR",
    "PAYER_DATA_INCOMPLETE",
    "PAYER_CERT_EXPIRED",
    "PERMIT_CHECK_PERM_LIMITED",
    "PERMIT_PAYER_LOWEST_FORBIDDEN",
    "PERMIT_PAYER_FORBIDDEN",
    "PERMIT_CHECK_PERM_IDENTITY_THEFT",
    "CERT_MISS_TRANS_LIMIT",
    "CERT_MISS_ACC_LIMIT",
    "ACCOUNT_NOT_EXIST",
    "REMARK_HAS_SENSITIVE_WORD",
    "MEMO_REQUIRED_IN_TRANSFER_ERROR",
    "PRODUCT_NOT_SIGN",
    "NO_ACCOUNT_PAYMENT_PERMISSION",
];

#[async_trait]
impl TransferProvider for AlipayGateway {
    async fn transfer(&self, request: &TransferRequest) -> TransferOutcome {
        if !self.certificate_mode {
            // Nothing is sent, so nothing can have moved.
            return TransferOutcome::Failed {
                reason: NEEDS_CERTIFICATES.into(),
            };
        }
        let biz = match transfer_fields(request) {
            Ok(biz) => biz,
            Err(reason) => return TransferOutcome::Failed { reason },
        };
        let echo = ("out_biz_no", request.out_bill_no.as_str());
        transfer_outcome(self.call(TRANSFER, &biz, false, echo).await)
    }

    async fn query(&self, out_bill_no: &PayoutId) -> QueryOutcome {
        if !self.certificate_mode {
            return QueryOutcome::Ambiguous {
                detail: NEEDS_CERTIFICATES.into(),
            };
        }
        // product_code and biz_scene must accompany out_biz_no.
        let biz = json!({
            "out_biz_no": out_bill_no.as_str(),
            "product_code": PRODUCT_CODE,
            "biz_scene": BIZ_SCENE,
        });
        let echo = ("out_biz_no", out_bill_no.as_str());
        transfer_query_outcome(self.call(TRANSFER_QUERY, &biz, false, echo).await)
    }
}

/// The request's business fields, or why it fails before anything is sent
/// (nothing was sent, so nothing can have moved).
fn transfer_fields(request: &TransferRequest) -> Result<Value, String> {
    let no_account = || "the payee has no Alipay account to pay (no Alipay buyer id was kept)";
    let account = request.payee.account.as_ref().ok_or_else(no_account)?;
    let identity_type = match account.kind() {
        PayerAccountKind::AlipayUserId => "ALIPAY_USER_ID",
        PayerAccountKind::AlipayOpenId => "ALIPAY_OPEN_ID",
        PayerAccountKind::WechatOpenid => return Err(no_account().into()),
    };
    if request.amount.fen() < MIN_TRANSFER_FEN {
        return Err("Alipay transfers start at 0.10 yuan".into());
    }
    Ok(json!({
        "out_biz_no": request.out_bill_no.as_str(),
        "trans_amount": request.amount.to_string(),
        "product_code": PRODUCT_CODE,
        "biz_scene": BIZ_SCENE,
        // Shown in the payee's bill.
        "order_title": format!("商家打款 {}", request.payee.order_id),
        "payee_info": {"identity": account.expose(), "identity_type": identity_type},
    }))
}

/// `alipay.fund.trans.uni.transfer`'s answer (GATEWAYS.md §4 "Alipay uni.transfer").
fn transfer_outcome(reply: Reply) -> TransferOutcome {
    let error = match reply {
        Reply::Success(answer) => {
            return match transfer_status(&answer) {
                Status::Succeeded(provider_ref) => TransferOutcome::Succeeded { provider_ref },
                Status::InProgress => TransferOutcome::InProgress,
                Status::Failed(reason) => TransferOutcome::Failed { reason },
                Status::Unknown(detail) => TransferOutcome::Ambiguous { detail },
            }
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return TransferOutcome::Ambiguous { detail },
    };
    match error.kind() {
        ErrorKind::Business(code) if PAYOUT_REFUSALS.contains(&code) => TransferOutcome::Failed {
            reason: error.describe(),
        },
        ErrorKind::RefusedByGateway => TransferOutcome::Failed {
            reason: error.describe(),
        },
        // SYSTEM_ERROR: "不能直接当做转账成功或者失败处理"; PAYMENT_INFO_INCONSISTENCY:
        // this out_biz_no was sent before with other parameters, and that
        // earlier transfer may have moved money.
        ErrorKind::Business("SYSTEM_ERROR" | "PAYMENT_INFO_INCONSISTENCY")
        | ErrorKind::Unavailable
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => TransferOutcome::Ambiguous {
            detail: error.describe(),
        },
    }
}

/// `alipay.fund.trans.common.query`'s answer.
fn transfer_query_outcome(reply: Reply) -> QueryOutcome {
    let error = match reply {
        Reply::Success(answer) => {
            return match transfer_status(&answer) {
                Status::Succeeded(provider_ref) => QueryOutcome::Succeeded { provider_ref },
                Status::InProgress => QueryOutcome::InProgress,
                Status::Failed(reason) => QueryOutcome::Failed { reason },
                Status::Unknown(detail) => QueryOutcome::Ambiguous { detail },
            }
        }
        Reply::Error(error) => error,
        Reply::Untrusted(detail) => return QueryOutcome::Ambiguous { detail },
    };
    match error.kind() {
        // Never received: resend the same out_biz_no, unchanged.
        ErrorKind::Business("ORDER_NOT_EXIST") => QueryOutcome::NotFound,
        // A query that failed says nothing about the transfer.
        ErrorKind::Business("SYSTEM_ERROR" | "INVALID_PARAMETER")
        | ErrorKind::Unavailable
        | ErrorKind::RefusedByGateway
        | ErrorKind::Business(_)
        | ErrorKind::Unknown => QueryOutcome::Ambiguous {
            detail: error.describe(),
        },
    }
}

/// A transfer's `status` as both answers give it.
#[derive(Debug, PartialEq, Eq)]
enum Status {
    Succeeded(String),
    InProgress,
    Failed(String),
    Unknown(String),
}

/// `status`: SUCCESS (with Alipay's `order_id`), DEALING / WAIT_PAY (in
/// progress), FAIL / REFUND (bounced back) / CLOSED (final failures).
fn transfer_status(answer: &Map<String, Value>) -> Status {
    match text(answer, "status") {
        Some("SUCCESS") => {
            match text(answer, "order_id").or_else(|| text(answer, "pay_fund_order_id")) {
                Some(order_id) => Status::Succeeded(order_id.to_owned()),
                None => Status::Unknown("status SUCCESS without order_id".into()),
            }
        }
        Some("DEALING" | "WAIT_PAY") => Status::InProgress,
        Some(status @ ("FAIL" | "REFUND" | "CLOSED")) => {
            let code = text(answer, "error_code").unwrap_or("-");
            Status::Failed(format!(
                "{status} {code}: {}",
                crate::notice::reason(text(answer, "fail_reason"))
            ))
        }
        _ => Status::Unknown("code 10000 with an unknown transfer status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::replies::{business, error, success};

    #[test]
    fn transfer_statuses_map_code_by_code() {
        let done =
            success(json!({"status": "SUCCESS", "order_id": "20260301110070000002150000657610"}));
        assert_eq!(
            transfer_outcome(done),
            TransferOutcome::Succeeded {
                provider_ref: "20260301110070000002150000657610".into()
            }
        );
        assert_eq!(
            transfer_outcome(success(json!({"status": "DEALING"}))),
            TransferOutcome::InProgress
        );
        assert_eq!(
            transfer_outcome(success(json!({"status": "WAIT_PAY"}))),
            TransferOutcome::InProgress
        );
        for status in ["FAIL", "REFUND", "CLOSED"] {
            let failed = json!({"status": status, "error_code": "PAYEE_CARD_INFO_ERROR", "fail_reason": "卡号有误"});
            assert_eq!(
                transfer_outcome(success(failed)),
                TransferOutcome::Failed {
                    reason: format!("{status} PAYEE_CARD_INFO_ERROR: 卡号有误")
                }
            );
        }
        for odd in [
            json!({"status": "SUCCESS"}),
            json!({"status": "NEW"}),
            json!({}),
        ] {
            assert!(matches!(
                transfer_outcome(success(odd)),
                TransferOutcome::Ambiguous { .. }
            ));
        }
    }

    #[test]
    fn payee_payer_and_limit_errors_fail_the_transfer() {
        for sub_code in [
            "INVALID_PARAMETER",
            "PAYEE_NOT_EXIST",
            "PAYEE_ACCOUNT_NOT_EXSIT",
            "PAYEE_USER_INFO_ERROR",
            "PAYEE_ACCOUNT_STATUS_ERROR",
            "PAYEE_USERINFO_STATUS_ERROR",
            "PAYEE_ACC_OCUPIED",
            "PAYEE_NOT_RELNAME_CERTIFY",
            "PERM_AML_NOT_REALNAME_REV",
            "PERMIT_NON_BANK_LIMIT_PAYEE",
            "EXCEED_LIMIT_SM_AMOUNT",
            "EXCEED_LIMIT_SM_MIN_AMOUNT",
            "EXCEED_LIMIT_DM_AMOUNT",
            "EXCEED_LIMIT_DM_MAX_AMOUNT",
            "EXCEED_LIMIT_MM_AMOUNT",
            "EXCEED_LIMIT_PERSONAL_SM_AMOUNT",
            "EXCEED_LIMIT_ENT_SM_AMOUNT",
            "EXCEED_LIMIT_UNRN_DM_AMOUNT",
            "PAYER_BALANCE_NOT_ENOUGH",
            "PAYCARD_UNABLE_PAYMENT",
            "PAYER_STATUS_ERROR",
            "PAYER_USER_INFO_ERROR",
            "PAYER_DATA_INCOMPLETE",
            "PAYER_CERT_EXPIRED",
            "PERMIT_CHECK_PERM_LIMITED",
            "PERMIT_PAYER_LOWEST_FORBIDDEN",
            "PERMIT_PAYER_FORBIDDEN",
            "PERMIT_CHECK_PERM_IDENTITY_THEFT",
            "CERT_MISS_TRANS_LIMIT",
            "CERT_MISS_ACC_LIMIT",
            "ACCOUNT_NOT_EXIST",
            "REMARK_HAS_SENSITIVE_WORD",
            "MEMO_REQUIRED_IN_TRANSFER_ERROR",
            "PRODUCT_NOT_SIGN",
            "NO_ACCOUNT_PAYMENT_PERMISSION",
        ] {
            assert_eq!(
                transfer_outcome(business(sub_code)),
                TransferOutcome::Failed {
                    reason: format!("40004 {sub_code}: 说明")
                },
                "{sub_code}"
            );
        }
        for code in ["20001", "40001", "40002", "40006"] {
            assert!(matches!(
                transfer_outcome(error(code, None)),
                TransferOutcome::Failed { .. }
            ));
        }
    }

    #[test]
    fn transfer_system_errors_repeats_and_unknown_codes_are_ambiguous() {
        for reply in [
            business("SYSTEM_ERROR"),
            business("PAYMENT_INFO_INCONSISTENCY"),
            business("SOMETHING_NEW"),
            error("20000", Some("isp.unknow-error")),
            error("40004", None),
            Reply::Untrusted("x".into()),
        ] {
            assert!(matches!(
                transfer_outcome(reply),
                TransferOutcome::Ambiguous { .. }
            ));
        }
    }

    #[test]
    fn transfer_queries_map_code_by_code() {
        let done =
            success(json!({"status": "SUCCESS", "order_id": "o1", "pay_fund_order_id": "p1"}));
        assert_eq!(
            transfer_query_outcome(done),
            QueryOutcome::Succeeded {
                provider_ref: "o1".into()
            }
        );
        let by_fund_order = success(json!({"status": "SUCCESS", "pay_fund_order_id": "p1"}));
        assert_eq!(
            transfer_query_outcome(by_fund_order),
            QueryOutcome::Succeeded {
                provider_ref: "p1".into()
            }
        );
        assert_eq!(
            transfer_query_outcome(success(json!({"status": "DEALING"}))),
            QueryOutcome::InProgress
        );
        assert_eq!(
            transfer_query_outcome(success(json!({"status": "WAIT_PAY"}))),
            QueryOutcome::InProgress
        );
        for status in ["FAIL", "REFUND", "CLOSED"] {
            assert!(matches!(
                transfer_query_outcome(success(json!({"status": status}))),
                QueryOutcome::Failed { reason } if reason == format!("{status} -: provider gave no reason")
            ));
        }
        assert_eq!(
            transfer_query_outcome(business("ORDER_NOT_EXIST")),
            QueryOutcome::NotFound
        );
        for reply in [
            business("SYSTEM_ERROR"),
            business("INVALID_PARAMETER"),
            business("PAYEE_NOT_EXIST"),
            error("20000", None),
            error("40002", Some("isv.invalid-signature")),
            success(json!({"status": "NEW"})),
            Reply::Untrusted("x".into()),
        ] {
            assert!(matches!(
                transfer_query_outcome(reply),
                QueryOutcome::Ambiguous { .. }
            ));
        }
    }
}
