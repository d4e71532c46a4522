//! `GET /shops/{shop_id}/receivables?as_of=YYYY-MM-DD&cursor=` (SPEC §11):
//! the shop's monthly-pay receivables as of a business day — outstanding
//! principal, overdue amount and count by age — and one page of the orders
//! with overdue periods, by order id. The formulas are in
//! `qrpay_domain::receivables`; this only reads and renders.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use qrpay_domain::receivables::{order_receivable, AGE_BUCKETS};
use qrpay_domain::time::rfc3339_beijing;
use qrpay_domain::{BusinessDate, Order, OrderId, OrderReceivable, ShopId, ShopReceivables};
use qrpay_http::{json, ApiError, ErrorCode};
use qrpay_store::MAX_PAGE_SIZE;
use serde_json::{json, Value};

use crate::App;

/// Orders with overdue periods one page lists.
pub const RECEIVABLES_PAGE: usize = 50;

/// The most receivable orders one answer reads to total (200 store pages):
/// past it the totals would be partial, so the request is refused (503)
/// rather than answered wrong.
pub const MAX_RECEIVABLE_ORDERS: usize = 200 * MAX_PAGE_SIZE;

pub async fn get(app: &App, req: &Request, shop_id: ShopId) -> Result<Response<Body>, ApiError> {
    let query = req.query_string_parameters();
    let as_of = match query.first("as_of") {
        Some(text) => {
            BusinessDate::parse(text).map_err(|e| ApiError::invalid("as_of", e.to_string()))?
        }
        None => BusinessDate::of(app.clock.now()),
    };
    let cursor = query
        .first("cursor")
        .map(|c| {
            OrderId::parse(c)
                .map_err(|_| ApiError::invalid("cursor", "cursor is not one this API gave out"))
        })
        .transpose()?;
    let shop = app
        .shops
        .get_shop(&shop_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ShopNotFound, "shop not found"))?;
    let grace = shop.instalment_grace_days;
    let mut totals = ShopReceivables::default();
    let mut listed: Vec<(Order, OrderReceivable)> = Vec::new();
    let mut more = false;
    let mut read = 0usize;
    let mut after: Option<OrderId> = None;
    loop {
        let page = app
            .receivables
            .list_receivable_orders(&shop_id, after.as_ref(), MAX_PAGE_SIZE)
            .await?;
        read += page.items.len();
        if read > MAX_RECEIVABLE_ORDERS {
            return Err(ApiError::unavailable(
                "too many monthly-pay orders to total in one answer",
            ));
        }
        for order in page.items {
            // Judged as read: the index may list an order repaid meanwhile.
            let Some(position) = order_receivable(&order, grace, as_of) else {
                continue;
            };
            totals
                .add(&position)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let past_cursor = cursor.as_ref().is_none_or(|c| &order.order_id > c);
            if position.has_overdue() && past_cursor {
                if listed.len() < RECEIVABLES_PAGE {
                    listed.push((order, position));
                } else {
                    more = true;
                }
            }
        }
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let next_cursor = listed
        .last()
        .filter(|_| more)
        .map(|(o, _)| o.order_id.to_string());
    let orders: Vec<Value> = listed.iter().map(|(o, r)| order_json(o, r)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({
            "shop_id": shop_id,
            "as_of": as_of,
            "grace_days": grace.days(),
            "totals": totals_json(&totals),
            "orders": orders,
            "next_cursor": next_cursor,
        }),
    ))
}

fn totals_json(totals: &ShopReceivables) -> Value {
    let by_age: Vec<Value> = AGE_BUCKETS
        .iter()
        .zip(&totals.by_age)
        .map(|(bucket, total)| {
            json!({
                "bucket": bucket.label,
                "amount": total.amount.to_string(),
                "count": total.count,
            })
        })
        .collect();
    json!({
        "orders": totals.orders,
        "outstanding": totals.outstanding.to_string(),
        "overdue_orders": totals.overdue_orders,
        "overdue_amount": totals.overdue.amount.to_string(),
        "overdue_count": totals.overdue.count,
        "by_age": by_age,
    })
}

fn order_json(order: &Order, position: &OrderReceivable) -> Value {
    let overdue: Vec<Value> = position
        .overdue()
        .map(|p| {
            json!({
                "period": p.period,
                "amount": p.amount.to_string(),
                "due_date": p.due_date,
                "days_past_due": p.days_past_due,
            })
        })
        .collect();
    json!({
        "order_id": order.order_id,
        "out_order_no": order.out_order_no,
        "amount": order.amount.to_string(),
        "status": order.status.as_str(),
        "paid_at": order.paid_at.map(rfc3339_beijing),
        "periods": order.instalment_plan.as_ref().map(|p| p.periods),
        "financed": order.instalment_plan.as_ref().map(|p| p.financed.to_string()),
        "repaid_principal": position.repaid_principal.to_string(),
        "outstanding_principal": position.outstanding_principal.to_string(),
        "overdue_periods": overdue,
    })
}
