//! Payouts, their day totals, attempts and the notices they raise.

use aws_sdk_dynamodb::types::AttributeValue;
use qrpay_domain::{
    AttemptAction, AttemptOutcome, BusinessDate, IdempotencyKey, Notice, NoticeKind, OperatorId,
    OrderId, Payout, PayoutAttempt, PayoutId, PayoutNote, PayoutReason, PayoutStatus, Provider,
    ShopId,
};

use super::*;
use qrpay_store::{DayTotals, StoreError};

/// The attribute holding a payout's `PayeeAction` (JSON).
pub const PAYEE_ACTION: &str = "payee_action";

pub fn payout_item(payout: &Payout) -> Item {
    let mut item = payout_key(&payout.shop_id, &payout.payout_id);
    let sk = payout_sk(&payout.payout_id);
    item.extend([
        ("entity".to_owned(), s("payout")),
        (
            GSI1PK.to_owned(),
            s(order_payouts_gsi_pk(&payout.shop_id, &payout.order_id)),
        ),
        (GSI1SK.to_owned(), s(sk.clone())),
        (
            GSI2PK.to_owned(),
            s(day_payouts_gsi_pk(&payout.shop_id, payout.business_date)),
        ),
        (GSI2SK.to_owned(), s(sk)),
        ("payout_id".to_owned(), s(payout.payout_id.as_str())),
        ("shop_id".to_owned(), s(payout.shop_id.as_str())),
        ("order_id".to_owned(), s(payout.order_id.as_str())),
        ("operator_id".to_owned(), s(payout.operator_id.as_str())),
        (
            "counted_for_operator".to_owned(),
            AttributeValue::Bool(payout.counted_for_operator),
        ),
        ("amount_fen".to_owned(), n(payout.amount.fen())),
        ("reason".to_owned(), s(payout.reason.as_str())),
        (PAYOUT_STATUS.to_owned(), s(payout.status.as_str())),
        (
            "business_date".to_owned(),
            s(payout.business_date.to_string()),
        ),
        (
            "idempotency_key".to_owned(),
            s(payout.idempotency_key.as_str()),
        ),
        ("created_at_ms".to_owned(), ms(payout.created_at)),
        (UPDATED_AT.to_owned(), ms(payout.updated_at)),
    ]);
    if !payout.status.is_final() {
        item.insert(GSI3PK.to_owned(), s(open_gsi_pk(payout.status)));
        item.insert(GSI3SK.to_owned(), s(open_gsi_sk(payout)));
    }
    if let Some(note) = &payout.note {
        item.insert("note".to_owned(), s(note.as_str()));
    }
    if let Some(reason) = &payout.failure_reason {
        item.insert("failure_reason".to_owned(), s(reason.as_str()));
    }
    if let Some(provider) = payout.provider {
        item.insert("provider".to_owned(), s(provider.as_str()));
    }
    if let Some(action) = &payout.payee_action {
        item.insert(PAYEE_ACTION.to_owned(), json_attr(action));
    }
    item
}

pub fn payout_from(item: &Item) -> Result<Payout, StoreError> {
    Ok(Payout {
        payout_id: parse(item, "payout_id", PayoutId::parse)?,
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        order_id: parse(item, "order_id", OrderId::parse)?,
        operator_id: parse(item, "operator_id", OperatorId::parse)?,
        counted_for_operator: get_bool(item, "counted_for_operator")?,
        amount: get_amount(item, "amount_fen")?,
        reason: parse(item, "reason", |t| PayoutReason::parse(t).ok_or(()))?,
        note: get_opt_parsed(item, "note", PayoutNote::parse)?,
        status: parse(item, PAYOUT_STATUS, |t| PayoutStatus::parse(t).ok_or(()))?,
        failure_reason: get_opt_s(item, "failure_reason"),
        business_date: parse(item, "business_date", BusinessDate::parse)?,
        idempotency_key: parse(item, "idempotency_key", IdempotencyKey::parse)?,
        provider: get_opt_parsed(item, "provider", |t| Provider::parse(t).ok_or(()))?,
        payee_action: get_opt_json(item, PAYEE_ACTION)?,
        created_at: get_time(item, "created_at_ms")?,
        updated_at: get_time(item, UPDATED_AT)?,
    })
}

pub fn day_totals_from(item: Option<&Item>) -> Result<DayTotals, StoreError> {
    let Some(item) = item else {
        return Ok(DayTotals::default());
    };
    if !item.contains_key(PAYOUT_TOTAL) {
        return Ok(DayTotals::default());
    }
    Ok(DayTotals {
        total: get_money(item, PAYOUT_TOTAL)?,
        count: u32::try_from(get_i64(item, PAYOUT_COUNT)?)
            .map_err(|_| corrupt(PAYOUT_COUNT, item))?,
    })
}

pub fn attempt_item(shop: &ShopId, attempt: &PayoutAttempt, seq: &str) -> Item {
    let sk = format!(
        "{}#ATTEMPT#{}#{seq}",
        payout_sk(&attempt.payout_id),
        ms_key(attempt.at)
    );
    let mut item = key(shop_pk(shop), sk);
    item.extend([
        ("entity".to_owned(), s("payout_attempt")),
        ("payout_id".to_owned(), s(attempt.payout_id.as_str())),
        ("action".to_owned(), s(attempt.action.as_str())),
        ("outcome".to_owned(), s(attempt.outcome.as_str())),
        ("at_ms".to_owned(), ms(attempt.at)),
    ]);
    if let Some(detail) = &attempt.detail {
        item.insert("detail".to_owned(), s(detail.as_str()));
    }
    item
}

pub fn attempt_from(item: &Item) -> Result<PayoutAttempt, StoreError> {
    Ok(PayoutAttempt {
        payout_id: parse(item, "payout_id", PayoutId::parse)?,
        action: parse(item, "action", |t| AttemptAction::parse(t).ok_or(()))?,
        outcome: parse(item, "outcome", |t| AttemptOutcome::parse(t).ok_or(()))?,
        detail: get_opt_s(item, "detail"),
        at: get_time(item, "at_ms")?,
    })
}

pub fn notice_item(notice: &Notice) -> Item {
    let sk = format!("NOTICE#{}#{}", ms_key(notice.created_at), notice.notice_id);
    let mut item = key(shop_pk(&notice.shop_id), sk);
    item.extend([
        ("entity".to_owned(), s("notice")),
        ("notice_id".to_owned(), s(notice.notice_id.as_str())),
        ("shop_id".to_owned(), s(notice.shop_id.as_str())),
        ("kind".to_owned(), s(notice.kind.as_str())),
        ("message".to_owned(), s(notice.message.as_str())),
        ("created_at_ms".to_owned(), ms(notice.created_at)),
    ]);
    if let Some(p) = &notice.payout_id {
        item.insert("payout_id".to_owned(), s(p.as_str()));
    }
    if let Some(o) = &notice.order_id {
        item.insert("order_id".to_owned(), s(o.as_str()));
    }
    item
}

pub fn notice_from(item: &Item) -> Result<Notice, StoreError> {
    Ok(Notice {
        notice_id: get_s(item, "notice_id")?.to_owned(),
        shop_id: parse(item, "shop_id", ShopId::parse)?,
        kind: parse(item, "kind", |t| NoticeKind::parse(t).ok_or(()))?,
        message: get_s(item, "message")?.to_owned(),
        payout_id: get_opt_s(item, "payout_id")
            .map(|p| PayoutId::parse(&p))
            .transpose()
            .map_err(|_| corrupt("payout_id", item))?,
        order_id: get_opt_parsed(item, "order_id", OrderId::parse)?,
        created_at: get_time(item, "created_at_ms")?,
    })
}
