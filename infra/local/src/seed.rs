//! The demo world every local stack starts with, set up through the same
//! routes an operator and a shop owner would use: a shop with monthly pay,
//! its owner, a staff member with a payout quota, a POS device, a counter
//! code, and one paid order, so the printed `curl` lines work as they are.

use serde_json::{json, Value};

use qrpay_provider::kit;

use crate::client::{Answer, Client};
use crate::jwt::{self, Claims};

pub const SHOP: &str = "demo-shop";
pub const OWNER: &str = "owner-1";
pub const STAFF: &str = "staff-1";
pub const ADMIN: &str = "platform-admin";
pub const DEVICE: &str = "pos-1";
/// The staff member's quota.
pub const STAFF_PER_PAYOUT: &str = "50.00";
pub const STAFF_DAILY: &str = "200.00";
/// Development tokens last a week (checked against the real clock).
pub const TOKEN_TTL_S: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Demo {
    pub base_url: String,
    pub admin: String,
    pub owner: String,
    pub staff: String,
    pub device_secret: String,
    /// A static code at the counter (the buyer types the amount).
    pub counter_qr: String,
    /// The counter code's checkout page: what a buyer's phone opens.
    pub counter_url: String,
    /// An order already paid through the sandbox.
    pub paid_order: String,
}

pub fn token(secret: &str, sub: &str, shop: Option<&str>, role: &str) -> String {
    jwt::sign(
        secret.as_bytes(),
        &Claims {
            sub: sub.into(),
            shop_id: shop.map(str::to_owned),
            role: role.into(),
            scope: (role == "admin").then(|| qrpay_http::ADMIN_SCOPE.to_owned()),
            exp: chrono::Utc::now().timestamp() + TOKEN_TTL_S,
        },
    )
}

/// Checks an answer of the setup, or says what went wrong.
pub fn expect(step: &str, answer: Answer, status: u16) -> Result<Value, String> {
    if answer.status == status {
        Ok(answer.json())
    } else {
        Err(format!(
            "{step}: expected {status}, got {}: {}",
            answer.status,
            answer.text()
        ))
    }
}

pub async fn seed(client: &Client, jwt_secret: &str) -> Result<Demo, String> {
    let admin = token(jwt_secret, ADMIN, None, "admin");
    let owner = token(jwt_secret, OWNER, Some(SHOP), "owner");
    let staff = token(jwt_secret, STAFF, Some(SHOP), "staff");
    set_up_the_shop(client, &admin).await?;
    give_the_staff_a_quota(client, &owner).await?;
    let device_secret = register_the_device(client, &admin).await?;
    let (counter_qr, counter_url) = print_the_counter_code(client, &owner).await?;
    let paid_order = a_buyer_pays_the_first_order(client, &owner).await?;
    Ok(Demo {
        base_url: format!("http://{}", client.addr),
        admin,
        owner,
        staff,
        device_secret,
        counter_qr,
        counter_url,
        paid_order,
    })
}

/// The operator creates the shop, with monthly pay whose fees it bears.
async fn set_up_the_shop(client: &Client, admin: &str) -> Result<(), String> {
    let shop = json!({
        "name": "Demo Tea House",
        // What buyers see on the checkout page and their receipts.
        "display_name": "茶小铺 · 演示店",
        "receipt_link": "https://tea.example.cn/menu",
        "owner_operator_id": OWNER,
        "daily_payout_cap": "15000.00",
        "payout_balance": "50000.00",
        "instalments": {
            "min_amount": "100.00",
            "fee_payer": "shop",
            "fee_rates": {"3": "0.0230", "6": "0.0450", "12": "0.0750"}
        },
        // The WeChat Pay contract's fee, which the simulator keeps too.
        "processing_rates": {"wechatpay": "0.0060"}
    });
    let path = format!("/admin/shops/{SHOP}");
    let answer = client.json("PUT", &path, Some(admin), Some(&shop)).await?;
    expect("set up the demo shop", answer, 200)?;
    Ok(())
}

async fn give_the_staff_a_quota(client: &Client, owner: &str) -> Result<(), String> {
    let quota =
        json!({"enabled": true, "per_payout_limit": STAFF_PER_PAYOUT, "daily_limit": STAFF_DAILY});
    let path = format!("/shops/{SHOP}/operators/{STAFF}/payout-quota");
    let answer = client.json("PUT", &path, Some(owner), Some(&quota)).await?;
    expect("give the staff member a payout quota", answer, 200)?;
    Ok(())
}

/// The operator registers the POS device; its secret.
async fn register_the_device(client: &Client, admin: &str) -> Result<String, String> {
    let device_secret = kit::random_secret().expose().to_owned();
    let device = json!({"shop_id": SHOP, "secret": device_secret});
    let path = format!("/admin/devices/{DEVICE}");
    let answer = client
        .json("PUT", &path, Some(admin), Some(&device))
        .await?;
    expect("register the POS device", answer, 200)?;
    Ok(device_secret)
}

/// The owner prints a static code for the counter; its id and payment link.
async fn print_the_counter_code(client: &Client, owner: &str) -> Result<(String, String), String> {
    let code = json!({"kind": "static", "description": "Counter"});
    let path = format!("/shops/{SHOP}/qr-codes");
    let answer = client.json("POST", &path, Some(owner), Some(&code)).await?;
    let counter = expect("print the counter code", answer, 201)?;
    let field = |name: &str| counter[name].as_str().unwrap_or_default().to_owned();
    Ok((field("qr_id"), field("url")))
}

/// The owner issues a dynamic code and a buyer pays it through the
/// sandbox; the paid order's id.
async fn a_buyer_pays_the_first_order(client: &Client, owner: &str) -> Result<String, String> {
    let code = json!({"kind": "dynamic", "amount": "88.00", "out_order_no": format!("DEMO-{}", &kit::random_secret().expose()[..8]), "description": "Oolong gift box"});
    let path = format!("/shops/{SHOP}/qr-codes");
    let answer = client.json("POST", &path, Some(owner), Some(&code)).await?;
    let first = expect("issue the first order's code", answer, 201)?;
    let pay = format!(
        "/sandbox/qr-codes/{}/pay",
        first["qr_id"].as_str().unwrap_or_default()
    );
    let payer = json!({"payer": {"name": "李四", "phone": "13900001111"}});
    let answer = client.json("POST", &pay, None, Some(&payer)).await?;
    let paid = expect("a buyer pays the first order", answer, 200)?;
    Ok(paid["order_id"].as_str().unwrap_or_default().to_owned())
}

/// What the server prints once it is up: who exists, their tokens, and
/// `curl` lines that work as they are.
pub fn banner(demo: &Demo, today: &str) -> String {
    let url = &demo.base_url;
    let json_header = "-H 'content-type: application/json'";
    format!(
        "\
Demo shop {SHOP}: owner {OWNER}, staff {STAFF} (payout quota {STAFF_PER_PAYOUT} per payout, {STAFF_DAILY} a day),
POS device {DEVICE} (secret {secret}), counter code {counter}, paid order {order}.

The counter code's checkout page, as a buyer's phone opens it (pay through the simulated
Alipay or WeChat Pay; a phone's user agent shows the phone's choices):
{counter_url}

Tokens (valid 7 days; paste these into your shell):
export ADMIN='{admin}'
export OWNER='{owner}'
export STAFF='{staff}'

Try:
# a dynamic code with a 3-month monthly-pay plan
curl -s -X POST {url}/shops/{SHOP}/qr-codes -H \"Authorization: Bearer $OWNER\" {json_header} -d '{{\"kind\":\"dynamic\",\"amount\":\"600.00\",\"out_order_no\":\"T-1001\",\"instalments\":{{\"periods\":3}}}}'
# a buyer pays 25.00 at the counter code, through the sandbox provider
curl -s -X POST {url}/sandbox/qr-codes/{counter}/pay {json_header} -d '{{\"amount\":\"25.00\",\"payer\":{{\"name\":\"张三\",\"phone\":\"13812341234\"}}}}'
# the paid order, then a 5.00 shipping-fee payout by the staff member
curl -s {url}/shops/{SHOP}/orders/{order} -H \"Authorization: Bearer $STAFF\"
curl -s -X POST {url}/shops/{SHOP}/orders/{order}/payouts -H \"Authorization: Bearer $STAFF\" -H 'Idempotency-Key: try-1' {json_header} -d '{{\"amount\":\"5.00\",\"reason\":\"SHIPPING_FEE\"}}'
# today's payouts, and what the sandbox really paid out
curl -s \"{url}/shops/{SHOP}/payouts?date={today}\" -H \"Authorization: Bearer $OWNER\"
curl -s {url}/sandbox/transfers
# reconcile today (partial until the day ends) and read the shop's report
curl -s -X POST {url}/admin/reconciliations/{today} -H \"Authorization: Bearer $ADMIN\"
curl -s {url}/shops/{SHOP}/reconciliations/{today} -H \"Authorization: Bearer $OWNER\"
# the shop's monthly-pay receivables: outstanding, overdue by age (move the clock to see one)
curl -s {url}/shops/{SHOP}/receivables -H \"Authorization: Bearer $OWNER\"
",
        secret = demo.device_secret,
        counter = demo.counter_qr,
        counter_url = demo.counter_url,
        order = demo.paid_order,
        admin = demo.admin,
        owner = demo.owner,
        staff = demo.staff,
    )
}
