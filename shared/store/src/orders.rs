//! A shop's orders listed by creation time (SPEC §11 "Orders"), newest
//! first, filtered, a page at a time. Both adapters walk the same order
//! ([`OrderPosition`]) and stop by the same rules, so a cursor never skips or
//! repeats an order: it is the position of the last order *examined*, not of
//! the last one returned, and the walk resumes strictly after it.

use chrono::{DateTime, Utc};
use qrpay_domain::{DateRange, Order, OrderFilter, OrderId, ShopId};

/// Most orders one page examines (returned or filtered out): a selective
/// filter over a busy range gives short pages, never an unbounded read.
pub const MAX_ORDERS_EXAMINED: usize = 1_000;

/// Where an order stands in a shop's listing: its creation time in
/// milliseconds, then its id. Keys sort as the listing goes; the DynamoDB
/// store keeps exactly [`OrderPosition::key`] as the order's GSI1 sort key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderPosition {
    created_ms: i64,
    order_id: OrderId,
}

impl OrderPosition {
    pub fn of(order: &Order) -> OrderPosition {
        OrderPosition::at(order.created_at, order.order_id.clone())
    }

    pub fn at(created_at: DateTime<Utc>, order_id: OrderId) -> OrderPosition {
        OrderPosition {
            created_ms: created_at.timestamp_millis().max(0),
            order_id,
        }
    }

    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// `{created ms, 13 digits}#{order id}`.
    pub fn key(&self) -> String {
        format!("{}#{}", ms_prefix(self.created_ms), self.order_id)
    }

    /// A key made by [`OrderPosition::key`]; `None` for anything else.
    pub fn parse_key(key: &str) -> Option<OrderPosition> {
        let (ms, id) = key.split_once('#')?;
        if ms.len() != 13 || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(OrderPosition {
            created_ms: ms.parse().ok()?,
            order_id: OrderId::parse(id).ok()?,
        })
    }
}

/// The zero-padded milliseconds every position of that instant starts with.
pub fn ms_prefix(ms: i64) -> String {
    format!("{:013}", ms.max(0))
}

/// The prefix of positions at `instant`: positions of orders created at or
/// after it sort at or above it, earlier ones below.
pub fn position_floor(instant: DateTime<Utc>) -> String {
    ms_prefix(instant.timestamp_millis())
}

/// One page of a shop's orders.
#[derive(Debug, Clone)]
pub struct OrderQuery {
    pub shop_id: ShopId,
    pub range: DateRange,
    pub filter: OrderFilter,
    /// Continue strictly after (older than) this position.
    pub after: Option<OrderPosition>,
    /// Most orders returned (clamped to 1..=`MAX_PAGE_SIZE` by the stores).
    pub limit: usize,
}

/// What a page found; `next` continues the walk (absent: it is over).
/// A page may be short, even empty, while `next` is present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next: Option<OrderPosition>,
}

/// The walk both adapters make over the orders of a query's range after
/// its cursor, newest first: each order examined counts against
/// [`MAX_ORDERS_EXAMINED`], the filter picks what is returned, and the walk
/// stops once the page is full or the budget spent.
#[derive(Debug)]
pub struct OrderWalk {
    filter: OrderFilter,
    limit: usize,
    examined: usize,
    orders: Vec<Order>,
    last: Option<OrderPosition>,
}

impl OrderWalk {
    pub fn new(query: &OrderQuery) -> OrderWalk {
        OrderWalk {
            filter: query.filter.clone(),
            limit: crate::page_size(query.limit),
            examined: 0,
            orders: Vec::new(),
            last: None,
        }
    }

    /// Whether the walk stops before the next order.
    pub fn is_done(&self) -> bool {
        self.orders.len() >= self.limit || self.examined >= MAX_ORDERS_EXAMINED
    }

    /// How many more orders the walk may examine.
    pub fn budget_left(&self) -> usize {
        MAX_ORDERS_EXAMINED.saturating_sub(self.examined)
    }

    /// How many more orders would fill the page if all matched.
    pub fn room_left(&self) -> usize {
        self.limit.saturating_sub(self.orders.len())
    }

    /// Examines the next order (the caller checks [`OrderWalk::is_done`] first).
    pub fn examine(&mut self, order: Order) {
        self.examined += 1;
        self.last = Some(OrderPosition::of(&order));
        if self.filter.matches(&order) {
            self.orders.push(order);
        }
    }

    /// The page; `more`: orders of the range remain after the last examined.
    pub fn finish(self, more: bool) -> OrderPage {
        OrderPage {
            orders: self.orders,
            next: self.last.filter(|_| more),
        }
    }
}

/// Whether `order` belongs to the query's walk: in its range and strictly
/// older than its cursor.
pub fn in_walk(query: &OrderQuery, order: &Order) -> bool {
    query.range.contains(order.created_at)
        && query
            .after
            .as_ref()
            .is_none_or(|after| OrderPosition::of(order) < *after)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use qrpay_domain::{Amount, BusinessDate, OrderStatus};

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap() + Duration::milliseconds(ms)
    }

    fn order(id: &str, ms: i64) -> Order {
        Order::created(
            OrderId::parse(id).unwrap(),
            ShopId::parse("shop-1").unwrap(),
            Amount::parse("1.00").unwrap(),
            at(ms),
        )
    }

    fn paid_only(limit: usize) -> OrderQuery {
        OrderQuery {
            shop_id: ShopId::parse("shop-1").unwrap(),
            range: DateRange::day(BusinessDate::of(at(0))),
            filter: OrderFilter {
                status: Some(OrderStatus::Paid),
                ..OrderFilter::default()
            },
            after: None,
            limit,
        }
    }

    #[test]
    fn a_position_key_sorts_as_the_position_and_parses_back() {
        let older = OrderPosition::of(&order("ord_b", 5));
        let tie = OrderPosition::of(&order("ord_c", 5));
        let newer = OrderPosition::of(&order("ord_a", 6));
        assert!(older < tie && tie < newer);
        assert!(older.key() < tie.key() && tie.key() < newer.key());
        assert_eq!(OrderPosition::parse_key(&newer.key()), Some(newer));
        for bad in [
            "",
            "123#ord_a",
            "00000000000x5#ord_a",
            "0000000000005#ord a",
        ] {
            assert_eq!(OrderPosition::parse_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_walk_stops_at_its_budget_with_an_empty_page_that_continues() {
        let mut walk = OrderWalk::new(&paid_only(5));
        let mut last = None;
        for i in 0..MAX_ORDERS_EXAMINED {
            assert!(!walk.is_done(), "{i} examined");
            let unpaid = order(&format!("ord_{i}"), -(i as i64));
            last = Some(OrderPosition::of(&unpaid));
            walk.examine(unpaid);
        }
        assert!(walk.is_done());
        assert_eq!(walk.budget_left(), 0);
        let page = walk.finish(true);
        assert!(page.orders.is_empty());
        assert_eq!(page.next, last, "continues after the last order examined");
    }

    #[test]
    fn a_walk_stops_when_its_page_is_full_and_ends_without_a_cursor() {
        let mut walk = OrderWalk::new(&paid_only(1));
        let mut paid = order("ord_p", 0);
        paid.status = OrderStatus::Paid;
        walk.examine(order("ord_u", 1));
        assert_eq!(walk.room_left(), 1);
        walk.examine(paid.clone());
        assert!(walk.is_done());
        let page = walk.finish(false);
        assert_eq!(page.orders, [paid]);
        assert_eq!(page.next, None, "nothing older is left");
    }
}
