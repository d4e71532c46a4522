//! The demo's last chapter: the same shop takes money through WeChat Pay and
//! Alipay — the real adapters on the providers' own wire protocols, against
//! the local stack's simulators — and pays a buyer back through the provider
//! that collected the order, exactly once.

use serde_json::{json, Value};

use crate::demo::{s, Story};
use crate::seed::{expect, SHOP};

/// One provider's round: what the POS asks for, and what the buyer pays.
struct Round {
    provider: &'static str,
    label: &'static str,
    out_order_no: &'static str,
    amount: &'static str,
    plan: Option<u8>,
}

const ROUNDS: [Round; 2] = [
    Round {
        provider: "wechatpay",
        label: "WeChat Pay (a Native code_url)",
        out_order_no: "DEMO-WX-1",
        amount: "68.00",
        plan: None,
    },
    Round {
        provider: "alipay",
        label: "Alipay (a precreate qr_code, 3 Huabei periods)",
        out_order_no: "DEMO-ALI-1",
        amount: "360.00",
        plan: Some(3),
    },
];

impl Story<'_> {
    pub(crate) async fn buyers_pay_through_wechat_and_alipay(&mut self) -> Result<(), String> {
        for round in &ROUNDS {
            self.provider_round(round).await?;
        }
        Ok(())
    }

    async fn provider_round(&mut self, round: &Round) -> Result<(), String> {
        let mut body = json!({"kind": "dynamic", "amount": round.amount,
            "out_order_no": round.out_order_no, "provider": round.provider});
        if let Some(periods) = round.plan {
            body["instalments"] = json!({ "periods": periods });
        }
        let staff = self.demo.staff.clone();
        let code = expect(
            "issue a code for one provider",
            self.call(
                "POST",
                &format!("/shops/{SHOP}/qr-codes"),
                Some(&staff),
                Some(body),
            )
            .await?,
            201,
        )?;
        let order_id = s(&code["order_id"]);
        expect(
            "the buyer pays in the provider's app",
            self.call(
                "POST",
                &format!("/sandbox/{}/pay", round.provider),
                None,
                Some(json!({"code": code["provider_code"]})),
            )
            .await?,
            200,
        )?;
        let order = expect(
            "read the paid order",
            self.call(
                "GET",
                &format!("/shops/{SHOP}/orders/{order_id}"),
                Some(&staff),
                None,
            )
            .await?,
            200,
        )?;
        if order["status"] != json!("PAID") || order["provider"] != json!(round.provider) {
            return Err(format!(
                "the order should be PAID by {}: {order}",
                round.provider
            ));
        }
        let payout = self.paid_back(round, &order_id).await?;
        self.say(
            &format!(
                "A buyer pays {} through {}; staff pays 5.00 back",
                round.amount, round.label
            ),
            &[
                format!("the POS shows {}", s(&code["provider_code"])),
                format!(
                    "the provider's signed notice made order {order_id} {}",
                    s(&order["status"])
                ),
                format!(
                    "payout {}: {} through {}, moved once ({})",
                    s(&payout["payout_id"]),
                    s(&payout["status"]),
                    round.provider,
                    s(&payout["moved"])
                ),
            ],
        );
        Ok(())
    }

    /// A 5.00 payout against `order_id`, through the provider that collected
    /// it; the finished payout, with the provider's one movement.
    async fn paid_back(&self, round: &Round, order_id: &str) -> Result<Value, String> {
        let key = format!("demo-{}", round.out_order_no);
        let (_, mut done) = self.payout_until_final(order_id, "5.00", &key).await?;
        if done["status"] != json!("SUCCEEDED") || done["provider"] != json!(round.provider) {
            return Err(format!(
                "the payout should have succeeded through {}: {done}",
                round.provider
            ));
        }
        let moved = expect(
            "what the provider paid out",
            self.call(
                "GET",
                &format!("/sandbox/{}/transfers", round.provider),
                None,
                None,
            )
            .await?,
            200,
        )?;
        let amounts: Vec<&Value> = moved["transfers"]
            .as_array()
            .map(|t| t.iter().map(|t| &t["amount"]).collect())
            .unwrap_or_default();
        if amounts != [&json!("5.00")] {
            return Err(format!(
                "{} should have moved 5.00 once: {moved}",
                round.provider
            ));
        }
        done["moved"] = moved["transfers"][0]["provider_ref"].clone();
        Ok(done)
    }
}

impl Story<'_> {
    /// The night after the providers' round: the reconciliation of `date`
    /// fetches WeChat Pay's, Alipay's and Douyin's bills from their
    /// simulators through the real signed clients, and matches them.
    pub(crate) async fn the_providers_bills_are_reconciled(
        &mut self,
        date: &str,
    ) -> Result<Value, String> {
        let (_, report) = self.reconciled_next_morning(date).await?;
        let mut lines = vec![format!(
            "WeChat Pay's trade and fund-flow bills and Alipay's bill came through the signed clients (runs/{date}/bills.json)"
        )];
        for row in report["rows"].as_array().into_iter().flatten() {
            let amount = [
                &row["reconciled_amount"],
                &row["ledger_amount"],
                &row["provider_amount"],
            ]
            .into_iter()
            .find(|a| a.is_string())
            .map(s)
            .unwrap_or_default();
            let note = match s(&row["note"]).as_str() {
                "-" | "" => String::new(),
                note => format!(": {note}"),
            };
            lines.push(format!(
                "{} {} {amount} {}{note}",
                s(&row["provider"]),
                s(&row["kind"]),
                s(&row["outcome"])
            ));
        }
        lines.extend(
            [
                "WeChat Pay's fee is booked with each payment at the shop's processing rate, so it matches the bill's;",
                "not matched yet, known (README, \"Bills\"): transfers are not in the trade bills (WeChat lists them in its fund-flow bill, not matched yet);",
                "and the local bank pays only the sandbox's batches",
            ]
            .map(str::to_owned),
        );
        self.say(
            &format!("The next night, the reconciliation of {date} fetches the providers' bills"),
            &lines,
        );
        Ok(report)
    }
}
