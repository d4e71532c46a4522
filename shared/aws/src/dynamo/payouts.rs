use super::paging::KeyQuery;
use super::*;

#[async_trait]
impl PayoutStore for DynamoStore {
    async fn reserve_payout(&self, req: &PayoutRequest) -> Result<Reserved, ReserveError> {
        self.reserve(req).await
    }

    async fn find_payout(&self, payout_id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        let Some(pointer) = self.get(payout_pointer_key(payout_id)).await? else {
            return Ok(None);
        };
        let shop_id = ShopId::parse(get_s(&pointer, "shop_id")?)
            .map_err(|_| StoreError::Corrupt("payout pointer shop_id".into()))?;
        self.get_payout(&shop_id, payout_id).await
    }

    async fn get_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Option<Payout>, StoreError> {
        self.get(payout_key(shop_id, payout_id))
            .await?
            .as_ref()
            .map(payout_from)
            .transpose()
    }

    async fn list_order_payouts(
        &self,
        shop_id: &ShopId,
        order_id: &OrderId,
    ) -> Result<Vec<Payout>, StoreError> {
        let query = KeyQuery {
            index: Some(GSI1),
            condition: "#GSI1PK = :pk",
            names: vec![GSI1PK],
            values: vec![(":pk", s(order_payouts_gsi_pk(shop_id, order_id)))],
            forward: false,
        };
        let items = self.query_all(&query, MAX_ORDER_PAYOUTS_LISTED).await?;
        items.iter().map(payout_from).collect()
    }

    async fn list_shop_payouts(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
        cursor: Option<&PayoutId>,
        limit: usize,
    ) -> Result<Page<Payout>, StoreError> {
        let limit = page_size(limit);
        let after = cursor.map(payout_sk);
        let query = KeyQuery::gsi2_after(day_payouts_gsi_pk(shop_id, date), after, false);
        let (found, more) = self.query_page(&query, limit).await?;
        let items = found
            .iter()
            .map(payout_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = continuation(&items, more, |p| p.payout_id.clone());
        Ok(Page { items, next_cursor })
    }

    async fn start_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let payout = self.existing_payout(shop_id, payout_id).await?;
        let Some(started) = payout.started(now) else {
            return Ok(Transition::Unchanged(payout));
        };
        let values = vec![
            (":processing", s(PayoutStatus::Processing.as_str())),
            (":pending", s(PayoutStatus::Pending.as_str())),
            (":now", ms(now)),
            (":open_pk", s(open_gsi_pk(PayoutStatus::Processing))),
            (":open_sk", s(open_gsi_sk(&started))),
        ];
        self.update_payout_if(
            started,
            "SET #payout_status = :processing, #updated_at_ms = :now, #GSI3PK = :open_pk, #GSI3SK = :open_sk",
            "#payout_status = :pending",
            &[PAYOUT_STATUS, UPDATED_AT, GSI3PK, GSI3SK],
            values,
        )
        .await
    }

    async fn await_payee(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        action: &PayeeAction,
    ) -> Result<Transition, PayoutError> {
        let payout = self.existing_payout(shop_id, payout_id).await?;
        let Some(waiting) = payout.awaiting_payee(action) else {
            return Ok(Transition::Unchanged(payout));
        };
        let values = vec![
            (":processing", s(PayoutStatus::Processing.as_str())),
            (":action", json_attr(action)),
        ];
        self.update_payout_if(
            waiting,
            "SET #payee_action = :action",
            "#payout_status = :processing",
            &[PAYOUT_STATUS, PAYEE_ACTION],
            values,
        )
        .await
    }

    async fn succeed_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        provider_ref: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let broken = format!("hold or ledger of {payout_id} disagree with its status");
        self.move_payout(shop_id, payout_id, &broken, |p| {
            settle_payout(p, provider_ref, now)
        })
        .await
    }

    async fn fail_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, PayoutError> {
        let broken = format!("counters of {payout_id} do not hold its reservation");
        self.move_payout(shop_id, payout_id, &broken, |p| {
            release_payout(p, reason, now)
        })
        .await
    }

    async fn record_attempt(
        &self,
        shop_id: &ShopId,
        attempt: &PayoutAttempt,
    ) -> Result<(), StoreError> {
        let unique = qrpay_domain::ids::unique_token(attempt.at);
        self.put(attempt_item(shop_id, attempt, &unique)).await
    }

    async fn list_attempts(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Vec<PayoutAttempt>, StoreError> {
        let prefix = format!("{}#ATTEMPT#", payout_sk(payout_id));
        let items = self
            .query_all(
                &KeyQuery::prefix(shop_pk(shop_id), &prefix, true),
                MAX_ORDER_PAYOUTS_LISTED,
            )
            .await?;
        items.iter().map(attempt_from).collect()
    }

    async fn list_open_payouts(
        &self,
        status: PayoutStatus,
        before: DateTime<Utc>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Payout>, StoreError> {
        let before = ms_key(before);
        // `{ms}#…` sorts after `{ms}`: below `before` means an earlier ms.
        let mut values = vec![(":pk", s(open_gsi_pk(status))), (":before", s(&before))];
        let condition = match after {
            // BETWEEN is inclusive: the item at `after` itself is skipped below.
            Some(after) if after < before.as_str() => {
                values.push((":after", s(after)));
                "#GSI3PK = :pk AND #GSI3SK BETWEEN :after AND :before"
            }
            Some(_) => return Ok(Vec::new()),
            None => "#GSI3PK = :pk AND #GSI3SK < :before",
        };
        let query = KeyQuery {
            index: Some(GSI3),
            condition,
            names: vec![GSI3PK, GSI3SK],
            values,
            forward: true,
        };
        let items = self
            .query_all(&query, limit.saturating_add(1).max(1))
            .await?;
        items
            .iter()
            .filter(|item| after.is_none_or(|a| get_opt_s(item, GSI3SK).as_deref() != Some(a)))
            .take(limit)
            .map(payout_from)
            .collect()
    }

    async fn sweep_cursor(&self, status: PayoutStatus) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(sweep_cursor_key(status))
            .await?
            .and_then(|item| get_opt_s(&item, "position")))
    }

    async fn set_sweep_cursor(
        &self,
        status: PayoutStatus,
        cursor: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut item = sweep_cursor_key(status);
        item.insert("entity".to_owned(), s("sweep_cursor"));
        if let Some(position) = cursor {
            item.insert("position".to_owned(), s(position));
        }
        self.put(item).await
    }

    async fn shop_day_totals(
        &self,
        shop_id: &ShopId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        day_totals_from(self.get(shop_day_key(shop_id, date)).await?.as_ref())
    }

    async fn operator_day_totals(
        &self,
        shop_id: &ShopId,
        operator_id: &OperatorId,
        date: BusinessDate,
    ) -> Result<DayTotals, StoreError> {
        day_totals_from(
            self.get(operator_day_key(shop_id, operator_id, date))
                .await?
                .as_ref(),
        )
    }
}

impl DynamoStore {
    /// The payout, or `PayoutNotFound`.
    pub(super) async fn existing_payout(
        &self,
        shop_id: &ShopId,
        payout_id: &PayoutId,
    ) -> Result<Payout, PayoutError> {
        self.get_payout(shop_id, payout_id)
            .await?
            .ok_or(PayoutError::PayoutNotFound)
    }

    /// Writes `update` to `after`'s item if `condition` still holds:
    /// `Moved(after)`; otherwise someone moved it first, and it is
    /// `Unchanged` as it now is.
    async fn update_payout_if(
        &self,
        after: Payout,
        update: &str,
        condition: &str,
        attribute_names: &[&str],
        attribute_values: Vec<(&str, AttributeValue)>,
    ) -> Result<Transition, PayoutError> {
        self.trip();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payout_key(&after.shop_id, &after.payout_id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names(attribute_names))
            .set_expression_attribute_values(values(attribute_values))
            .send()
            .await;
        if condition_held(result)? {
            return Ok(Transition::Moved(after));
        }
        let current = self
            .existing_payout(&after.shop_id, &after.payout_id)
            .await?;
        Ok(Transition::Unchanged(current))
    }
}
