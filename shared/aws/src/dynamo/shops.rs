use super::paging::KeyQuery;
use super::*;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure as OnFailure;
use qrpay_domain::{decide_adjustment, AdjustmentRequest};
use qrpay_store::{AdjustError, Adjusted};

#[async_trait]
impl ShopStore for DynamoStore {
    async fn put_shop(&self, setup: &ShopSetup, now: DateTime<Utc>) -> Result<Shop, StoreError> {
        let instalments = serde_json::to_string(&setup.instalments)
            .map_err(|e| StoreError::Corrupt(format!("instalments: {e}")))?;
        let processing_rates = serde_json::to_string(&setup.processing_rates)
            .map_err(|e| StoreError::Corrupt(format!("processing_rates: {e}")))?;
        // The controls are optional: an absent one is removed, so a later
        // setup without it lifts the cap (or the alert).
        let controls = [
            (
                COLLECTION_CAP,
                ":collection_cap",
                setup.controls.daily_collection_cap,
            ),
            (
                LARGE_PAYMENT_ALERT,
                ":large_payment_alert",
                setup.controls.large_payment_alert,
            ),
        ];
        let mut sets = String::new();
        let mut removes = Vec::new();
        let mut control_values = Vec::new();
        for (name, placeholder, value) in controls {
            match value {
                Some(amount) => {
                    sets.push_str(&format!(", #{name} = {placeholder}"));
                    control_values.push((placeholder, n(amount.fen())));
                }
                None => removes.push(format!("#{name}")),
            }
        }
        let remove = if removes.is_empty() {
            String::new()
        } else {
            format!(" REMOVE {}", removes.join(", "))
        };
        let mut all_values = vec![
            (":entity", s("shop")),
            (":shop_id", s(setup.shop_id.as_str())),
            (":name", s(setup.name.as_str())),
            (":owner", s(setup.owner_operator_id.as_str())),
            (":cap", n(setup.daily_payout_cap.fen())),
            // Only a new shop takes it (if_not_exists above).
            (
                ":balance",
                n(setup
                    .payout_balance
                    .unwrap_or(qrpay_domain::Money::ZERO)
                    .fen()),
            ),
            (":instalments", s(instalments)),
            (":grace", n(i64::from(setup.instalment_grace_days.days()))),
            (":branding", s(setup.branding.to_json())),
            (":processing_rates", s(processing_rates)),
            (":now", ms(now)),
            (":zero", n(0)),
        ];
        all_values.extend(control_values);
        self.trip();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(shop_key(&setup.shop_id)))
            .update_expression(format!(
                "SET #entity = :entity, #shop_id = :shop_id, #name = :name, #owner_operator_id = :owner, \
                 #daily_payout_cap_fen = :cap, #payout_balance_fen = if_not_exists(#payout_balance_fen, :balance), #instalments = :instalments, #instalment_grace_days = :grace, #branding = :branding, #processing_rates = :processing_rates, \
                 #updated_at_ms = :now, #created_at_ms = if_not_exists(#created_at_ms, :now), \
                 #payout_held_fen = if_not_exists(#payout_held_fen, :zero){sets}{remove}",
            ))
            .set_expression_attribute_names(names(&[
                "entity", "shop_id", "name", OWNER, CAP, BALANCE, "instalments", GRACE_DAYS, "branding", PROCESSING_RATES, UPDATED_AT, "created_at_ms", HELD,
                COLLECTION_CAP, LARGE_PAYMENT_ALERT,
            ]))
            .set_expression_attribute_values(values(all_values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Corrupt("put_shop returned nothing".into()))?;
        shop_from(&item)
    }

    async fn get_shop(&self, shop_id: &ShopId) -> Result<Option<Shop>, StoreError> {
        self.get(shop_key(shop_id))
            .await?
            .as_ref()
            .map(shop_from)
            .transpose()
    }

    async fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        self.put(device_item(device)).await
    }

    async fn get_device(&self, device_id: &DeviceId) -> Result<Option<Device>, StoreError> {
        self.get(device_key(device_id))
            .await?
            .as_ref()
            .map(device_from)
            .transpose()
    }

    async fn put_payout_quota(&self, quota: &PayoutQuota) -> Result<(), StoreError> {
        self.put(quota_item(quota)).await
    }

    async fn get_payout_quota(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
    ) -> Result<Option<PayoutQuota>, StoreError> {
        self.get(quota_key(shop_id, operator_id))
            .await?
            .as_ref()
            .map(quota_from)
            .transpose()
    }

    async fn list_notices(
        &self,
        shop_id: &ShopId,
        limit: usize,
    ) -> Result<Vec<Notice>, StoreError> {
        let items = self
            .query_all(
                &KeyQuery::prefix(shop_pk(shop_id), "NOTICE#", false),
                page_size(limit),
            )
            .await?;
        items.iter().map(notice_from).collect()
    }

    async fn list_ledger(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let items = self
            .query_all(
                &KeyQuery::prefix(shop_pk(shop_id), &ledger_prefix(date), true),
                usize::MAX,
            )
            .await?;
        items.iter().map(ledger_from).collect()
    }

    async fn adjust_balance(&self, request: &AdjustmentRequest) -> Result<Adjusted, AdjustError> {
        self.adjust_balance_write(request).await
    }
}

/// Fresh attempts at an adjustment whose balance moved between the read
/// and the write (payments land on the same balance).
const MAX_ADJUSTMENT_WRITE_ATTEMPTS: usize = 12;

impl DynamoStore {
    /// Reads the shop and the key's record, decides, and writes the record,
    /// the ledger entry and the balance in one transaction conditioned on
    /// the balance read; a cancelled write is decided again on a fresh read.
    async fn adjust_balance_write(
        &self,
        request: &AdjustmentRequest,
    ) -> Result<Adjusted, AdjustError> {
        let record_key = adjustment_key(&request.shop_id, &request.idempotency_key);
        for attempt in 0..MAX_ADJUSTMENT_WRITE_ATTEMPTS {
            super::backoff::pause(attempt).await;
            let read = self
                .transact_get(vec![shop_key(&request.shop_id), record_key.clone()])
                .await?;
            if let Some(done) = read.get(1).and_then(Option::as_ref) {
                let done = adjustment_from(done)?;
                if done.fingerprint != request.fingerprint() {
                    return Err(AdjustError::IdempotencyConflict);
                }
                return Ok(Adjusted::Replayed(done));
            }
            let shop = read[0]
                .as_ref()
                .map(shop_from)
                .transpose()?
                .ok_or(AdjustError::ShopNotFound)?;
            let effect = decide_adjustment(&shop, request)?;
            let a = &effect.adjustment;
            let mut e = super::payout_effects::Expr::default();
            let pk = e.name(PK);
            e.require(format!("attribute_exists({pk})"));
            e.bound(BALANCE, "=", Some(a.balance_before.fen()), "before");
            let update = format!(
                "SET {} = {}, {} = {}",
                e.name(BALANCE),
                e.value("after", n(a.balance_after.fen())),
                e.name(UPDATED_AT),
                e.value("now", ms(a.created_at))
            );
            let items = vec![
                self.put_new(adjustment_item(a), OnFailure::None)?,
                self.put_new(ledger_item(&effect.ledger), OnFailure::None)?,
                e.update(&self.table, shop_key(&request.shop_id), update)?,
            ];
            if let WriteOutcome::Written = self.transact_write(items).await? {
                return Ok(Adjusted::Created(effect.adjustment));
            }
            tracing::debug!(shop_id = %request.shop_id, "balance adjustment raced; deciding again");
        }
        Err(StoreError::Contention.into())
    }
}
