//! A shop's receivables (SPEC §11): the orders that owe instalments, read
//! from their sparse GSI2 partition (never a scan).

use async_trait::async_trait;
use qrpay_domain::{Order, OrderId, ShopId};
use qrpay_store::{continuation, page_size, Page, ReceivableStore, StoreError};

use super::codec::*;
use super::paging::KeyQuery;
use super::DynamoStore;

#[async_trait]
impl ReceivableStore for DynamoStore {
    async fn list_receivable_orders(
        &self,
        shop_id: &ShopId,
        cursor: Option<&OrderId>,
        limit: usize,
    ) -> Result<Page<Order, OrderId>, StoreError> {
        let limit = page_size(limit);
        let after = cursor.map(|c| c.as_str().to_owned());
        let query = KeyQuery::gsi2_after(receivable_gsi_pk(shop_id), after, true);
        let (found, more) = self.query_page(&query, limit).await?;
        let items = found
            .iter()
            .map(order_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = continuation(&items, more, |o| o.order_id.clone());
        Ok(Page { items, next_cursor })
    }
}
