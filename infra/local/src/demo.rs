//! `qrpay-local demo`: the whole story over HTTP, as a shop and its buyer
//! would live it, with a short summary of each step. Every answer is
//! checked; the first surprise stops the demo with what was expected.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{Answer, Client};
use crate::seed::{expect, Demo, SHOP, STAFF, STAFF_PER_PAYOUT};

/// What the demo leaves behind.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub date: String,
    pub report_csv: PathBuf,
    pub report_json: PathBuf,
    pub summary: Value,
}

pub(crate) struct Story<'a> {
    pub(crate) client: &'a Client,
    pub(crate) demo: &'a Demo,
    step: usize,
    out: &'a mut dyn FnMut(&str),
}

impl Story<'_> {
    pub(crate) fn say(&mut self, title: &str, lines: &[String]) {
        self.step += 1;
        (self.out)(&format!("\n{}. {title}", self.step));
        for line in lines {
            (self.out)(&format!("   {line}"));
        }
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        self.client.json(method, path, token, body.as_ref()).await
    }

    pub(crate) async fn payout(
        &self,
        order: &str,
        amount: &str,
        key: &str,
    ) -> Result<Answer, String> {
        self.client
            .send(
                "POST",
                &format!("/shops/{SHOP}/orders/{order}/payouts"),
                Some(&self.demo.staff),
                &[("idempotency-key", key)],
                Some(
                    json!({"amount": amount, "reason": "SHIPPING_FEE", "note": "courier refund"})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await
    }
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(text) => text.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Waits for `check` to hold on `GET path`, polling for up to 20 s.
async fn until(
    client: &Client,
    path: &str,
    token: &str,
    check: impl Fn(&Answer) -> bool,
) -> Result<Answer, String> {
    let mut last = None;
    for _ in 0..200 {
        let answer = client.json("GET", path, Some(token), None).await?;
        if check(&answer) {
            return Ok(answer);
        }
        last = Some(answer);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "GET {path} did not reach the expected state in 20 s; last answer {}",
        last.map(|a| format!("{} {}", a.status, a.text()))
            .unwrap_or_default()
    ))
}

/// Walks the story against the stack at `client`; `data_dir` is where its
/// reports land.
pub async fn run(
    client: &Client,
    demo: &Demo,
    data_dir: &std::path::Path,
    out: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let mut story = Story {
        client,
        demo,
        step: 0,
        out,
    };
    story.the_shop_is_set_up();
    let code = story.staff_issues_a_monthly_pay_code().await?;
    let order_id = s(&code["order_id"]);
    story.the_buyer_pays(&code, &order_id).await?;
    let payout = story.staff_pays_shipping_back(&order_id).await?;
    story.two_payouts_are_refused(&order_id).await?;
    let date = s(&payout["business_date"]);
    story.a_refund_at_the_counter(&date).await?;
    let outcome = story.the_night_is_reconciled(date, data_dir).await?;
    story
        .the_owner_resolves_the_discrepancies(&outcome.date)
        .await?;
    story.buyers_pay_through_wechat_and_alipay().await?;
    // The orders of the reconciled day and of the morning after.
    let next_day = chrono::NaiveDate::parse_from_str(&outcome.date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.succ_opt())
        .ok_or_else(|| format!("the report's date {:?} is not a date", outcome.date))?;
    story
        .the_providers_bills_are_reconciled(&next_day.to_string())
        .await?;
    story.an_instalment_goes_overdue(&order_id).await?;
    story
        .the_orders_are_taken_away(&outcome.date, &next_day.to_string(), data_dir)
        .await?;
    Ok(outcome)
}

impl Story<'_> {
    fn the_shop_is_set_up(&mut self) {
        self.say(
            "The platform set up a shop with monthly pay, its owner, a staff member and a POS device",
            &[format!(
                "shop {SHOP}, staff {STAFF} may pay out up to {STAFF_PER_PAYOUT} at a time; shop-borne monthly-pay fees; WeChat Pay keeps 0.60% of each payment (processing rate 0.0060)"
            )],
        );
    }

    /// A dynamic code with a monthly-pay plan; the code as issued.
    async fn staff_issues_a_monthly_pay_code(&mut self) -> Result<Value, String> {
        let code = expect(
            "issue a monthly-pay code",
            self.call(
                "POST",
                &format!("/shops/{SHOP}/qr-codes"),
                Some(&self.demo.staff),
                Some(json!({
                    "kind": "dynamic", "amount": "600.00",
                    "out_order_no": format!("DEMO-TEA-{}", chrono::Utc::now().timestamp_millis()),
                    "description": "Tea set", "instalments": {"periods": 3}
                })),
            )
            .await?,
            201,
        )?;
        let plan = &code["instalment_plan"];
        let schedule: Vec<String> = plan["schedule"]
            .as_array()
            .map(|periods| periods.iter().map(|p| s(&p["amount"])).collect())
            .unwrap_or_default();
        self.say(
            "Staff issues a dynamic QR code for 600.00 on a 3-month monthly-pay plan",
            &[
                format!(
                    "code {} for order {}, expires {}",
                    s(&code["qr_id"]),
                    s(&code["order_id"]),
                    s(&code["expires_at"])
                ),
                format!(
                    "plan: {} periods of {} (fee {} paid by the {})",
                    s(&plan["periods"]),
                    schedule.join(" + "),
                    s(&plan["fee"]),
                    s(&plan["fee_payer"])
                ),
                format!("the buyer's link: {}", s(&code["url"])),
            ],
        );
        Ok(code)
    }

    /// The buyer pays through the sandbox; the sandbox calls qrpay back and
    /// the order is paid.
    async fn the_buyer_pays(&mut self, code: &Value, order_id: &str) -> Result<(), String> {
        // The buyer opens the link first: a checkout shown with its plan.
        let url = s(&code["url"]);
        let link = url.find("/pay/").map(|at| &url[at..]).unwrap_or_default();
        expect(
            "the buyer opens the link",
            self.call("GET", link, None, None).await?,
            200,
        )?;
        let paid = expect(
            "the buyer pays through the sandbox",
            self.call(
                "POST",
                &format!("/sandbox/qr-codes/{}/pay", s(&code["qr_id"])),
                None,
                Some(json!({"payer": {"name": "张三", "phone": "13812341234"}})),
            )
            .await?,
            200,
        )?;
        let callback = &paid["callback"]["first"];
        if callback["status"] != json!(200) {
            return Err(format!("the sandbox's callback was refused: {callback}"));
        }
        let order = expect(
            "read the paid order",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/orders/{order_id}"),
                Some(&self.demo.staff),
                None,
            )
            .await?,
            200,
        )?;
        if order["status"] != json!("PAID") {
            return Err(format!("the order should be PAID: {order}"));
        }
        self.say(
            "The buyer scans and pays through the sandbox provider",
            &[
                format!("provider transaction {}", s(&paid["provider_txn_id"])),
                format!(
                    "signed callback to /callbacks/sandbox answered {} {}",
                    s(&callback["status"]),
                    s(&callback["body"])
                ),
                format!(
                    "order {order_id} is {}, paid {}",
                    s(&order["status"]),
                    s(&order["paid_amount"])
                ),
            ],
        );
        Ok(())
    }

    /// A payout, executed by the worker in the background and paid out by
    /// the sandbox exactly once; the finished payout.
    async fn staff_pays_shipping_back(&mut self, order_id: &str) -> Result<Value, String> {
        let (asked, done) = self
            .payout_until_final(order_id, "20.00", "demo-shipping-1")
            .await?;
        let payout_id = s(&asked["payout_id"]);
        if done["status"] != json!("SUCCEEDED") {
            return Err(format!("the payout should have succeeded: {done}"));
        }
        let provider_ref = self.paid_out_once(&payout_id).await?;
        self.say(
            "Staff pays 20.00 back to the buyer for shipping; the worker sends it",
            &[
                format!("202 {} {}", payout_id, s(&asked["status"])),
                format!(
                    "worker: {} after {} attempt(s); the sandbox paid it once ({})",
                    s(&done["status"]),
                    done["attempts"].as_array().map(Vec::len).unwrap_or(0),
                    provider_ref
                ),
            ],
        );
        Ok(done)
    }

    /// A payout requested by staff (202) and the payout once the background
    /// worker has made it final.
    pub(crate) async fn payout_until_final(
        &self,
        order_id: &str,
        amount: &str,
        key: &str,
    ) -> Result<(Value, Value), String> {
        let asked = expect(
            "request a payout",
            self.payout(order_id, amount, key).await?,
            202,
        )?;
        let payout_id = s(&asked["payout_id"]);
        let done = until(
            self.client,
            &format!("/shops/{SHOP}/payouts/{payout_id}"),
            &self.demo.staff,
            |a| a.json()["status"] == json!("SUCCEEDED") || a.json()["status"] == json!("FAILED"),
        )
        .await?
        .json();
        Ok((asked, done))
    }

    /// The sandbox's reference of the one transfer it made for `payout_id`.
    async fn paid_out_once(&self, payout_id: &str) -> Result<String, String> {
        let transfers = expect(
            "what the sandbox paid out",
            self.call("GET", "/sandbox/transfers", None, None).await?,
            200,
        )?;
        let sent: Vec<&Value> = transfers["transfers"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter(|t| t["out_bill_no"] == json!(payout_id))
                    .collect()
            })
            .unwrap_or_default();
        if sent.len() != 1 {
            return Err(format!(
                "the payout should be paid out exactly once: {transfers}"
            ));
        }
        Ok(s(&sent[0]["provider_ref"]))
    }

    /// One over the staff member's limit, one too soon after the last: both
    /// refused, each with its reason.
    async fn two_payouts_are_refused(&mut self, order_id: &str) -> Result<(), String> {
        let too_big = self.payout(order_id, "80.00", "demo-too-big").await?;
        if too_big.status != 422 || too_big.code() != "OPERATOR_SINGLE_LIMIT_EXCEEDED" {
            return Err(format!(
                "80.00 should be over the staff limit: {} {}",
                too_big.status,
                too_big.text()
            ));
        }
        let too_soon = self.payout(order_id, "10.00", "demo-too-soon").await?;
        if too_soon.status != 429 || too_soon.code() != "PAYOUT_TOO_FREQUENT" {
            return Err(format!(
                "a second payout within 60 s should be refused: {} {}",
                too_soon.status,
                too_soon.text()
            ));
        }
        self.say(
            "Two payouts are refused, with their reasons",
            &[
                format!(
                    "80.00: {} {}: {}",
                    too_big.status,
                    too_big.code(),
                    s(&too_big.json()["error"]["message"])
                ),
                format!(
                    "10.00 right after: {} {} (Retry-After {} s): {}",
                    too_soon.status,
                    too_soon.code(),
                    too_soon.header("retry-after").unwrap_or("-"),
                    s(&too_soon.json()["error"]["message"])
                ),
            ],
        );
        Ok(())
    }

    /// The clock moves to the next morning and the platform asks for the
    /// reconciliation of `date`: the new "now" and the shop's report, once
    /// written.
    pub(crate) async fn reconciled_next_morning(
        &mut self,
        date: &str,
    ) -> Result<(Value, Value), String> {
        let tomorrow = expect(
            "move the clock to the next morning",
            self.call(
                "POST",
                "/sandbox/clock",
                None,
                Some(json!({"advance_s": 86_400})),
            )
            .await?,
            200,
        )?;
        expect(
            "ask for the reconciliation",
            self.call(
                "POST",
                &format!("/admin/reconciliations/{date}"),
                Some(&self.demo.admin),
                None,
            )
            .await?,
            202,
        )?;
        let report = until(
            self.client,
            &format!("/shops/{SHOP}/reconciliations/{date}"),
            &self.demo.owner,
            |a| a.status == 200,
        )
        .await?
        .json();
        Ok((tomorrow, report))
    }

    /// The day ends: the clock moves to the next morning, the platform asks
    /// for the reconciliation of `date`, and the shop's report is written.
    async fn the_night_is_reconciled(
        &mut self,
        date: String,
        data_dir: &std::path::Path,
    ) -> Result<Outcome, String> {
        let (tomorrow, report) = self.reconciled_next_morning(&date).await?;
        let outcome = Outcome {
            report_csv: data_dir.join(format!("reports/{date}/{SHOP}.csv")),
            report_json: data_dir.join(format!("reports/{date}/{SHOP}.json")),
            summary: report["summary"].clone(),
            date,
        };
        for file in [&outcome.report_csv, &outcome.report_json] {
            if !file.is_file() {
                return Err(format!("the report {} was not written", file.display()));
            }
        }
        let month = outcome.date.get(..7).unwrap_or_default();
        let kpis = until(
            self.client,
            &format!("/shops/{SHOP}/kpis?month={month}"),
            &self.demo.owner,
            |a| a.status == 200,
        )
        .await?
        .json();
        self.say_the_reconciliation(&s(&tomorrow["now"]), &outcome, &kpis);
        Ok(outcome)
    }

    fn say_the_reconciliation(&mut self, morning: &str, outcome: &Outcome, month: &Value) {
        let summary = &outcome.summary;
        let kpis = &month["kpis"];
        let outcomes = &summary["outcomes"];
        self.say(
            &format!(
                "The next morning ({morning}), the reconciliation of {}",
                outcome.date
            ),
            &[
                format!(
                    "{} rows, {} matched, {} discrepancies; settlement expected {}, received {}",
                    s(&summary["rows"]),
                    s(&outcomes["MATCHED"]),
                    s(&summary["discrepancies"]),
                    s(&summary["settlement_expected"]),
                    s(&summary["settlement_received"])
                ),
                format!(
                    "payments {} totalling {}, monthly-pay orders {}, average order {}, refund ratio {}",
                    s(&summary["payments"]["count"]),
                    s(&summary["payments"]["total"]),
                    s(&summary["monthly_pay_orders"]),
                    s(&summary["average_order_value"]),
                    s(&summary["refund_ratio"])
                ),
                format!(
                    "the month's KPIs ({} day(s) reconciled): monthly-pay share {}, conversion {}, cancellation ratio {}, refund ratio {} by count, overdue rate {} by amount, payouts {}",
                    s(&month["days_reconciled"]),
                    s(&kpis["monthly_pay_share"]),
                    s(&kpis["monthly_pay_conversion"]),
                    s(&kpis["cancellation_ratio"]),
                    s(&kpis["refund_ratio_count"]),
                    s(&kpis["overdue_rate_amount"]),
                    s(&kpis["payouts_total"])
                ),
                format!("report: {}", outcome.report_csv.display()),
                format!("        {}", outcome.report_json.display()),
            ],
        );
    }
}

/// `qrpay-local demo`: a fresh embedded stack on a free port, the story,
/// then exit.
pub async fn main(data_dir: PathBuf) -> Result<Outcome, String> {
    let running = crate::start("127.0.0.1:0".parse().map_err(|_| "address")?, |url| {
        crate::Options::from_env(data_dir.clone(), crate::Backend::Embedded, url)
    })
    .await?;
    println!(
        "qrpay demo: a local stack on http://{} (embedded store), data in {}",
        running.addr,
        data_dir.display()
    );
    let client = Client::new(running.addr.to_string());
    let outcome = run(&client, &running.demo, &data_dir, &mut |line| {
        println!("{line}")
    })
    .await?;
    println!(
        "\nThe demo finished; the reports of {} are in {}.",
        outcome.date,
        data_dir.join("reports").join(&outcome.date).display()
    );
    Ok(outcome)
}
