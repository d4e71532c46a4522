//! Payouts in DynamoDB: the domain decides every change
//! ([`qrpay_domain::books`]); this module only translates a
//! [`PayoutEffect`] into the items of one `TransactWriteItems`, each
//! conditioned on the bounds the effect carries, and turns a cancelled
//! reservation back into the rule that now refuses it.
//!
//! A reservation is one read round trip (`TransactGetItems`: a serializable
//! snapshot of everything the rules look at) and one transaction that
//! writes the payout and re-checks every rule as a condition on the items it
//! touches, as they are at that moment. A refusal found in the snapshot costs
//! the read only. A cancelled transaction is turned back into the exact rule
//! and headroom from the items DynamoDB returns with the cancellation
//! (`ReturnValuesOnConditionCheckFailure`).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck,
    ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem,
};
use qrpay_domain::books::{
    CounterChange, OrderChange, PayoutEffect, PayoutMove, PayoutSnapshot, QuotaGuard, ShopChange,
};
use qrpay_domain::{
    reserve_payout, BusinessDate, OrderStatus, Payout, PayoutId, PayoutRequest, PayoutStatus,
    ShopId,
};

use super::codec::*;
use super::{build_error, conditional_update, failed, DynamoStore, WriteOutcome};
use qrpay_store::{PayoutError, PayoutStore, ReserveError, Reserved, StoreError, Transition};

/// Fresh attempts at a reservation that lost a race without any rule
/// failing (a limit was changed meanwhile, or a transaction conflict).
pub(super) const MAX_WRITE_ATTEMPTS: usize = 4;

/// The items of a payout transaction, in order, so a cancellation reason
/// can be matched to what it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Payout,
    Pointer,
    Idempotency,
    Order,
    Shop,
    ShopDay,
    Quota,
    OperatorDay,
    Notice,
    Ledger,
}

/// What a reservation read: the rules' facts and an earlier request with
/// the same `Idempotency-Key` as (fingerprint, payout id).
#[derive(Debug, Default)]
struct ReservationRead {
    snapshot: PayoutSnapshot,
    idempotency: Option<(String, PayoutId)>,
}

/// An update or condition expression being built: the names and values it
/// uses (DynamoDB refuses unused ones) and its conditions, all to hold.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
    conditions: Vec<String>,
}

impl Expr {
    pub(super) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, key: &str, value: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(super) fn require(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `attribute` is at least / at most `bound` (when there is one).
    pub(super) fn bound(&mut self, attribute: &str, op: &str, bound: Option<i64>, key: &str) {
        if let Some(bound) = bound {
            let (a, v) = (self.name(attribute), self.value(key, n(bound)));
            self.require(format!("{a} {op} {v}"));
        }
    }

    pub(super) fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// `attribute` equals `value` as read; an attribute absent from an
    /// older item reads as zero.
    pub(super) fn equals_or_absent_when_zero(&mut self, attribute: &str, value: i64, key: &str) {
        let (a, v) = (self.name(attribute), self.value(key, n(value)));
        self.require(equals_or_absent_when_zero(&a, &v, value));
    }

    /// The first assignments of a status move: `status = next` and the
    /// update time; the caller adds its own.
    pub(super) fn status_set(
        &mut self,
        status_attribute: &str,
        next: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<String> {
        let status = self.name(status_attribute);
        vec![
            format!("{status} = {}", self.value("next", s(next))),
            format!("{} = {}", self.name(UPDATED_AT), self.value("now", ms(now))),
        ]
    }

    /// A status move's update text, on the condition that the status is one
    /// of `sources` (those that may become the next one); a final move also
    /// leaves the sweeper's sparse index.
    pub(super) fn status_move(
        &mut self,
        status_attribute: &str,
        sources: &[&str],
        set: &[String],
        is_final: bool,
    ) -> String {
        let status = self.name(status_attribute);
        let sources: Vec<String> = sources
            .iter()
            .map(|from| self.value(&format!("from_{from}"), s(*from)))
            .collect();
        self.require(format!("{status} IN ({})", sources.join(", ")));
        let mut update = format!("SET {}", set.join(", "));
        if is_final {
            update.push_str(&format!(
                " REMOVE {}, {}",
                self.name(GSI3PK),
                self.name(GSI3SK)
            ));
        }
        update
    }

    pub(super) fn update(
        self,
        table: &str,
        key: Item,
        update: String,
    ) -> Result<TransactWriteItem, StoreError> {
        let condition = self.condition();
        let values = (!self.values.is_empty()).then_some(self.values);
        conditional_update(table, key, update, condition, Some(self.names), values)
    }

    /// A transaction item that only checks these conditions on `key`.
    pub(super) fn check(
        self,
        table: &str,
        key: Item,
        on_failure: OnFailure,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .set_condition_expression(self.condition())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .return_values_on_condition_check_failure(on_failure)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// The condition that attribute placeholder `a` equals value placeholder
/// `v`, which holds `value`; an attribute absent from an older item reads
/// as zero.
pub(super) fn equals_or_absent_when_zero(a: &str, v: &str, value: i64) -> String {
    if value == 0 {
        format!("(attribute_not_exists({a}) OR {a} = {v})")
    } else {
        format!("{a} = {v}")
    }
}

/// A positive bound as a condition (a release needs at least what it gives back).
pub(super) fn at_least(min: i64) -> Option<i64> {
    (min > 0).then_some(min)
}

impl DynamoStore {
    /// One payout effect as the items of one transaction.
    pub(super) fn payout_effect_items(
        &self,
        effect: &PayoutEffect,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Slot>), StoreError> {
        let payout = &effect.payout;
        let shop_id = &payout.shop_id;
        let mut items = Vec::with_capacity(8);
        let mut push = |slot: Slot, item: TransactWriteItem| items.push((slot, item));
        match &effect.moved {
            PayoutMove::Create { fingerprint } => {
                push(
                    Slot::Payout,
                    self.put_new(payout_item(payout), OnFailure::None)?,
                );
                let mut pointer = payout_pointer_key(&payout.payout_id);
                pointer.insert("shop_id".to_owned(), s(shop_id.as_str()));
                push(Slot::Pointer, self.put_new(pointer, OnFailure::None)?);
                let mut idem = idempotency_key(shop_id, &payout.idempotency_key);
                idem.extend([
                    ("entity".to_owned(), s("idempotency")),
                    (FINGERPRINT.to_owned(), s(fingerprint.as_str())),
                    ("payout_id".to_owned(), s(payout.payout_id.as_str())),
                    ("created_at_ms".to_owned(), ms(payout.created_at)),
                ]);
                push(Slot::Idempotency, self.put_new(idem, OnFailure::AllOld)?);
            }
            PayoutMove::To(next) => push(Slot::Payout, self.payout_move(effect, *next)?),
        }
        if let Some(change) = &effect.order {
            push(Slot::Order, self.order_payouts_change(shop_id, change)?);
        }
        push(Slot::Shop, self.shop_change(shop_id, &effect.shop)?);
        if let Some((date, change)) = &effect.shop_day {
            push(
                Slot::ShopDay,
                self.day_change(shop_day_key(shop_id, *date), change)?,
            );
        }
        if let Some(guard) = &effect.quota {
            push(Slot::Quota, self.quota_check(shop_id, guard)?);
        }
        if let Some((operator, date, change)) = &effect.operator_day {
            let key = operator_day_key(shop_id, operator, *date);
            push(Slot::OperatorDay, self.day_change(key, change)?);
        }
        if let Some(notice) = &effect.notice {
            push(
                Slot::Notice,
                self.put_new(notice_item(notice), OnFailure::None)?,
            );
        }
        if let Some(entry) = &effect.ledger {
            push(
                Slot::Ledger,
                self.put_new(ledger_item(entry), OnFailure::None)?,
            );
        }
        Ok(items.into_iter().map(|(slot, item)| (item, slot)).unzip())
    }

    /// The payout moves to `next` from any status that may become it; a
    /// final payout leaves the sweeper's index.
    fn payout_move(
        &self,
        effect: &PayoutEffect,
        next: PayoutStatus,
    ) -> Result<TransactWriteItem, StoreError> {
        let payout = &effect.payout;
        let mut e = Expr::default();
        let mut set = e.status_set(PAYOUT_STATUS, next.as_str(), payout.updated_at);
        if let Some(reason) = &payout.failure_reason {
            set.push(format!(
                "{} = {}",
                e.name("failure_reason"),
                e.value("reason", s(reason.as_str()))
            ));
        }
        let sources: Vec<&str> = [PayoutStatus::Pending, PayoutStatus::Processing]
            .into_iter()
            .filter(|from| from.can_become(next))
            .map(PayoutStatus::as_str)
            .collect();
        let update = e.status_move(PAYOUT_STATUS, &sources, &set, next.is_final());
        e.update(
            &self.table,
            payout_key(&payout.shop_id, &payout.payout_id),
            update,
        )
    }

    /// The order's live payouts move; a reservation also needs the order as
    /// the rules saw it (payable, same ceiling, rule 2's interval passed).
    fn order_payouts_change(
        &self,
        shop_id: &qrpay_domain::ShopId,
        change: &OrderChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let pk = e.name(PK);
        e.require(format!("attribute_exists({pk})"));
        let (total, count) = (e.name(LIVE_TOTAL), e.name(LIVE_COUNT));
        let live = &change.live;
        let mut set = vec![
            format!("{total} = {total} + {}", e.value("dt", n(live.total_fen))),
            format!("{count} = {count} + {}", e.value("dc", n(live.count))),
            format!(
                "{} = {}",
                e.name(UPDATED_AT),
                e.value("now", ms(change.updated_at))
            ),
        ];
        if let Some(at) = change.last_payout_at {
            set.push(format!(
                "{} = {}",
                e.name(LAST_PAYOUT_AT),
                e.value("last", ms(at))
            ));
        }
        if let Some(guard) = &change.payable {
            let status = e.name(ORDER_STATUS);
            let paid = e.value("paid_status", s(OrderStatus::Paid.as_str()));
            let part = e.value("part_status", s(OrderStatus::PartiallyRefunded.as_str()));
            e.require(format!("{status} IN ({paid}, {part})"));
            let (paid, refunded) = (e.name(PAID), e.name(REFUNDED));
            let paid_v = e.value("paid", n(guard.paid.fen()));
            let refunded_v = e.value("refunded", n(guard.refunded.fen()));
            e.require(format!("{paid} = {paid_v} AND {refunded} = {refunded_v}"));
            e.equals_or_absent_when_zero(REFUNDS_PENDING, guard.refunds_pending.fen(), "pending");
            let last = e.name(LAST_PAYOUT_AT);
            let latest = e.value("latest_last", n(guard.latest_last_payout_ms));
            e.require(format!(
                "(attribute_not_exists({last}) OR {last} <= {latest})"
            ));
        }
        e.bound(LIVE_COUNT, "<=", live.max_count_before, "max_count");
        e.bound(LIVE_TOTAL, "<=", live.max_total_before_fen, "max_prior");
        e.bound(
            LIVE_TOTAL,
            ">=",
            at_least(live.min_total_before_fen()),
            "min_total",
        );
        e.bound(
            LIVE_COUNT,
            ">=",
            at_least(live.min_count_before()),
            "min_count",
        );
        let key = order_key(shop_id, &change.order_id);
        e.update(&self.table, key, format!("SET {}", set.join(", ")))
    }

    /// The shop's balance and hold move; a reservation also needs the cap
    /// and the owner the rules saw.
    pub(super) fn shop_change(
        &self,
        shop_id: &qrpay_domain::ShopId,
        change: &ShopChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let pk = e.name(PK);
        e.require(format!("attribute_exists({pk})"));
        let (balance, held) = (e.name(BALANCE), e.name(HELD));
        let update = format!(
            "SET {balance} = {balance} + {}, {held} = {held} + {}",
            e.value("db", n(change.balance_fen)),
            e.value("dh", n(change.held_fen))
        );
        e.bound(
            BALANCE,
            ">=",
            at_least(change.min_balance_before_fen()),
            "min_balance",
        );
        e.bound(
            HELD,
            ">=",
            at_least(change.min_held_before_fen()),
            "min_held",
        );
        if let Some(guard) = &change.guard {
            e.bound(CAP, "=", Some(guard.daily_cap_fen), "cap");
            let owner = e.name(OWNER);
            let op = e.value("op", s(guard.operator.as_str()));
            let is = if guard.operator_is_owner { "=" } else { "<>" };
            e.require(format!("{owner} {is} {op}"));
        }
        e.update(&self.table, shop_key(shop_id), update)
    }

    /// A day counter moves; it may not exist yet (nothing reserved that day).
    fn day_change(
        &self,
        key: Item,
        change: &CounterChange,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let (total, count) = (e.name(PAYOUT_TOTAL), e.name(PAYOUT_COUNT));
        let update = format!(
            "ADD {total} {}, {count} {}",
            e.value("dt", n(change.total_fen)),
            e.value("dc", n(change.count))
        );
        if let Some(max) = change.max_total_before_fen {
            let max = e.value("max_prior", n(max));
            e.require(format!(
                "(attribute_not_exists({total}) OR {total} <= {max})"
            ));
        }
        e.bound(
            PAYOUT_TOTAL,
            ">=",
            at_least(change.min_total_before_fen()),
            "min_total",
        );
        e.bound(
            PAYOUT_COUNT,
            ">=",
            at_least(change.min_count_before()),
            "min_count",
        );
        e.update(&self.table, key, update)
    }

    /// Rules 3, 6 and 7 need the quota the rules saw.
    fn quota_check(
        &self,
        shop_id: &qrpay_domain::ShopId,
        guard: &QuotaGuard,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::default();
        let enabled = e.name(ENABLED);
        let yes = e.value("yes", AttributeValue::Bool(true));
        e.require(format!("{enabled} = {yes}"));
        e.bound(
            PER_PAYOUT_LIMIT,
            ">=",
            Some(guard.min_per_payout_fen),
            "amt",
        );
        e.bound(DAILY_LIMIT, "=", Some(guard.daily_limit_fen), "daily");
        let key = quota_key(shop_id, &guard.operator_id);
        e.check(&self.table, key, OnFailure::AllOld)
    }

    /// Reserves a payout: read, let the domain decide, write the effect on
    /// the conditions it carries; a lost race is re-decided on what the
    /// cancellation returned.
    pub(super) async fn reserve(&self, req: &PayoutRequest) -> Result<Reserved, ReserveError> {
        let date = req.business_date();
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let mut read = self.read_reservation(req, date).await?;
            if let Some((fingerprint, payout_id)) = &read.idempotency {
                return self.replay(req, fingerprint, payout_id).await;
            }
            let shop = read
                .snapshot
                .shop
                .as_ref()
                .ok_or(ReserveError::ShopNotFound)?;
            let effect = reserve_payout(shop, &read.snapshot, req)?;
            let (items, slots) = self.payout_effect_items(&effect)?;
            let reasons = match self.transact_write(items).await? {
                WriteOutcome::Written => return Ok(Reserved::Created(effect.payout)),
                WriteOutcome::Cancelled(reasons) => reasons,
            };
            // Something changed since the snapshot: find out whether a rule now fails.
            absorb_cancellation(&mut read, &slots, &reasons)?;
            if let Some((fingerprint, payout_id)) = &read.idempotency {
                return self.replay(req, fingerprint, payout_id).await;
            }
            let shop = read
                .snapshot
                .shop
                .as_ref()
                .ok_or(ReserveError::ShopNotFound)?;
            reserve_payout(shop, &read.snapshot, req)?;
            // No rule fails on what came back (a limit changed, or a conflict): try afresh.
            tracing::debug!(payout_id = %req.payout_id, "reservation raced; retrying");
        }
        Err(StoreError::Contention.into())
    }

    /// Moves a payout as the domain decides from the payout as it is now:
    /// `None` changes nothing; an effect is written on the condition that
    /// the payout did not move meanwhile (then it is decided again).
    pub(super) async fn move_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        broken_invariant: &str,
        decide: impl Fn(&Payout) -> Option<PayoutEffect>,
    ) -> Result<Transition, PayoutError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let payout = self.existing_payout(shop_id, payout_id).await?;
            let Some(effect) = decide(&payout) else {
                return Ok(Transition::Unchanged(payout));
            };
            let (items, _) = self.payout_effect_items(&effect)?;
            if let Some(done) = self
                .transition_write(items, effect.payout, broken_invariant)
                .await?
            {
                return Ok(done);
            }
        }
        Err(StoreError::Contention.into())
    }

    /// One serializable read of everything the rules look at.
    async fn read_reservation(
        &self,
        req: &PayoutRequest,
        date: BusinessDate,
    ) -> Result<ReservationRead, StoreError> {
        let keys = [
            shop_key(&req.shop_id),
            order_key(&req.shop_id, &req.order_id),
            idempotency_key(&req.shop_id, &req.idempotency_key),
            shop_day_key(&req.shop_id, date),
            quota_key(&req.shop_id, &req.operator_id),
            operator_day_key(&req.shop_id, &req.operator_id, date),
        ];
        let items = self.transact_get(keys.into()).await?;
        let item = |i: usize| items.get(i).and_then(Option::as_ref);
        Ok(ReservationRead {
            snapshot: PayoutSnapshot {
                shop: item(0).map(shop_from).transpose()?,
                order: item(1).map(order_from).transpose()?,
                quota: item(4).map(quota_from).transpose()?,
                shop_day: day_totals_from(item(3))?,
                operator_day: day_totals_from(item(5))?,
            },
            idempotency: item(2).map(idempotency_from).transpose()?,
        })
    }

    async fn replay(
        &self,
        req: &PayoutRequest,
        fingerprint: &str,
        payout_id: &PayoutId,
    ) -> Result<Reserved, ReserveError> {
        if fingerprint != req.fingerprint() {
            return Err(ReserveError::IdempotencyConflict);
        }
        let payout = self
            .get_payout(&req.shop_id, payout_id)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("idempotency record points at missing {payout_id}"))
            })?;
        Ok(Reserved::Replayed(payout))
    }
}

fn idempotency_from(item: &Item) -> Result<(String, PayoutId), StoreError> {
    let payout_id = PayoutId::parse(get_s(item, "payout_id")?)
        .map_err(|_| StoreError::Corrupt("idempotency record payout_id".into()))?;
    Ok((get_s(item, FINGERPRINT)?.to_owned(), payout_id))
}

/// Folds the items a cancelled transaction returned into the read: each
/// failed condition's item as it is now (absent if it does not exist).
fn absorb_cancellation(
    read: &mut ReservationRead,
    slots: &[Slot],
    reasons: &[CancellationReason],
) -> Result<(), StoreError> {
    let snap = &mut read.snapshot;
    for (slot, reason) in slots.iter().zip(reasons) {
        if !failed(reason) {
            continue;
        }
        let item = reason.item();
        match slot {
            Slot::Payout | Slot::Pointer | Slot::Notice | Slot::Ledger => {
                return Err(StoreError::Corrupt("payout id collision".into()))
            }
            Slot::Idempotency => read.idempotency = item.map(idempotency_from).transpose()?,
            Slot::Order => snap.order = item.map(order_from).transpose()?,
            Slot::Shop => snap.shop = item.map(shop_from).transpose()?,
            Slot::ShopDay => snap.shop_day = day_totals_from(item)?,
            Slot::Quota => snap.quota = item.map(quota_from).transpose()?,
            Slot::OperatorDay => snap.operator_day = day_totals_from(item)?,
        }
    }
    Ok(())
}
