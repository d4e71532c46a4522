use super::*;
use crate::ReceivableStore;
use qrpay_domain::receivables::owes_instalments;

#[async_trait]
impl ReceivableStore for MemoryStore {
    async fn list_receivable_orders(
        &self,
        shop_id: &ShopId,
        cursor: Option<&OrderId>,
        limit: usize,
    ) -> Result<Page<Order, OrderId>, StoreError> {
        let limit = page_size(limit);
        let state = self.state();
        let mut owing: Vec<&Order> = state
            .orders
            .iter()
            .filter(|((shop, order), _)| shop == shop_id && cursor.is_none_or(|c| order > c))
            .map(|(_, order)| order)
            .filter(|order| owes_instalments(order))
            .collect();
        owing.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        let (items, more) = over_fetch(owing.into_iter().cloned(), limit);
        let next_cursor = continuation(&items, more, |o| o.order_id.clone());
        Ok(Page { items, next_cursor })
    }
}
