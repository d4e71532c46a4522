//! A small world to run payout rules in: one shop with an owner and staff,
//! paid orders, quotas, and requests built at chosen instants.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use qrpay_domain::{
    Amount, IdempotencyKey, InstalmentConfig, Money, OperatorId, Order, OrderId, OrderStatus,
    PayerAccount, PayoutChannels, PayoutId, PayoutQuota, PayoutReason, PayoutRequest, Provider,
    ProviderRef, Shop, ShopId, ShopSetup,
};
use qrpay_store::Store;

pub fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("test amount")
}

pub fn money(text: &str) -> Money {
    Money::parse(text).expect("test money")
}

/// An instant written in Beijing time, e.g. `beijing("2026-03-01T23:59:59")`.
pub fn beijing(local: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{local}+08:00"))
        .expect("test instant")
        .with_timezone(&Utc)
}

/// Mid-morning of an ordinary business day.
pub fn morning() -> DateTime<Utc> {
    beijing("2026-03-02T10:00:00")
}

pub struct World {
    pub store: Arc<dyn Store>,
    pub shop: ShopId,
    pub owner: OperatorId,
    pub staff: OperatorId,
}

impl World {
    /// A shop with this daily cap and payout balance, owned by `owner`.
    pub async fn new(store: Arc<dyn Store>, cap: &str, balance: &str) -> World {
        World::with_shop(store, "shop-1", cap, balance).await
    }

    pub async fn with_shop(store: Arc<dyn Store>, shop: &str, cap: &str, balance: &str) -> World {
        let world = World {
            store,
            shop: ShopId::parse(shop).unwrap(),
            owner: OperatorId::parse(&format!("{shop}-owner")).unwrap(),
            staff: OperatorId::parse(&format!("{shop}-staff")).unwrap(),
        };
        let setup = ShopSetup {
            shop_id: world.shop.clone(),
            name: qrpay_domain::ShopName::parse(&format!("Shop {shop}")).unwrap(),
            owner_operator_id: world.owner.clone(),
            daily_payout_cap: amount(cap),
            payout_balance: Some(money(balance)),
            instalments: InstalmentConfig::default(),
            instalment_grace_days: Default::default(),
            branding: qrpay_domain::Branding::default(),
            controls: Default::default(),
            processing_rates: Default::default(),
        };
        world
            .store
            .put_shop(&setup, morning())
            .await
            .expect("put shop");
        world
    }

    pub async fn shop_now(&self) -> Shop {
        self.store
            .get_shop(&self.shop)
            .await
            .unwrap()
            .expect("shop exists")
    }

    /// Inserts an order of this shop in the given status.
    pub async fn order_in(&self, id: &str, paid: &str, status: OrderStatus) -> OrderId {
        self.order_by(id, paid, status, Provider::Sandbox, None)
            .await
    }

    /// An order collected by `provider`, paid from `account` if known.
    pub async fn order_by(
        &self,
        id: &str,
        paid: &str,
        status: OrderStatus,
        provider: Provider,
        account: Option<PayerAccount>,
    ) -> OrderId {
        let order = Order {
            payer_account: account,
            paid_amount: if status == OrderStatus::Created {
                Money::ZERO
            } else {
                money(paid)
            },
            status,
            provider: Some(provider),
            provider_txn_id: Some(ProviderRef::parse(&format!("txn-{id}")).unwrap()),
            ..Order::created(
                OrderId::parse(id).unwrap(),
                self.shop.clone(),
                amount(paid),
                morning(),
            )
        };
        assert!(
            self.store.insert_order(&order).await.unwrap(),
            "order {id} is new"
        );
        order.order_id
    }

    pub async fn paid_order(&self, id: &str, paid: &str) -> OrderId {
        self.order_in(id, paid, OrderStatus::Paid).await
    }

    pub async fn quota(&self, operator: &OperatorId, per: &str, daily: &str, enabled: bool) {
        let quota = PayoutQuota::new(
            self.shop.clone(),
            operator.clone(),
            enabled,
            amount(per),
            amount(daily),
            morning(),
        )
        .expect("a per-payout limit within the daily limit");
        self.store.put_payout_quota(&quota).await.unwrap();
    }

    /// A payout request with a fresh id; `key` is its Idempotency-Key.
    pub fn request(
        &self,
        operator: &OperatorId,
        order: &OrderId,
        amt: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> PayoutRequest {
        PayoutRequest {
            payout_id: PayoutId::generate(now),
            shop_id: self.shop.clone(),
            order_id: order.clone(),
            operator_id: operator.clone(),
            amount: amount(amt),
            reason: PayoutReason::ShippingFee,
            note: None,
            idempotency_key: IdempotencyKey::parse(key).unwrap(),
            // A stage where every provider can pay back.
            channels: PayoutChannels::of(&Provider::ALL),
            now,
        }
    }
}
