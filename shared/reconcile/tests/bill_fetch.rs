//! Fetching a day's bills into the bucket, and when the run stops waiting.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use qrpay_domain::{BusinessDate, Provider};
use qrpay_provider::bills::{BillGateway, BillKind, BillOutcome};
use qrpay_reconcile::bill_fetch::{
    deadline, fetch_day, missing_bills_alert, next_step, BillState, Earlier, Next, ASK_AGAIN_EVERY,
};
use qrpay_reconcile::objects::{LocalDir, ObjectStore};

/// A provider whose answers are scripted per bill kind, counting its calls.
struct Scripted {
    provider: Provider,
    kinds: &'static [BillKind],
    answers: Mutex<Vec<(BillKind, BillOutcome, &'static str)>>,
    calls: Mutex<Vec<BillKind>>,
}

impl Scripted {
    fn new(
        provider: Provider,
        kinds: &'static [BillKind],
        answers: Vec<(BillKind, BillOutcome, &'static str)>,
    ) -> Arc<Scripted> {
        Arc::new(Scripted {
            provider,
            kinds,
            answers: Mutex::new(answers),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<BillKind> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl BillGateway for Scripted {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn bill_kinds(&self) -> &'static [BillKind] {
        self.kinds
    }

    async fn fetch_bill(&self, _date: BusinessDate, kind: BillKind, dest: &Path) -> BillOutcome {
        self.calls.lock().unwrap().push(kind);
        let mut answers = self.answers.lock().unwrap();
        let at = answers
            .iter()
            .position(|(k, _, _)| *k == kind)
            .expect("a scripted answer");
        let (_, outcome, body) = answers.remove(at);
        std::fs::write(dest, body).unwrap();
        outcome
    }
}

fn day() -> BusinessDate {
    BusinessDate::parse("2026-11-20").unwrap()
}

/// 10:30 Beijing on D+1.
fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 2, 30, 0).unwrap()
}

const BOTH: &[BillKind] = &[BillKind::Trade, BillKind::FundFlow];
const TRADE: &[BillKind] = &[BillKind::Trade];

#[tokio::test]
async fn published_bills_land_where_the_run_reads_them_and_are_not_fetched_twice() {
    let dir = tempfile::tempdir().unwrap();
    let objects = LocalDir::new(dir.path().join("bucket"));
    let wechat = Scripted::new(
        Provider::Wechatpay,
        BOTH,
        vec![
            (BillKind::Trade, BillOutcome::Stored { bytes: 5 }, "trade"),
            (BillKind::FundFlow, BillOutcome::Stored { bytes: 4 }, "fund"),
        ],
    );
    let alipay = Scripted::new(
        Provider::Alipay,
        TRADE,
        vec![
            (
                BillKind::Trade,
                BillOutcome::NotYet {
                    detail: "isp.bill_not_exist".into(),
                },
                "",
            ),
            (BillKind::Trade, BillOutcome::Stored { bytes: 6 }, "alipay"),
        ],
    );
    let gateways: Vec<Arc<dyn BillGateway>> = vec![wechat.clone(), alipay.clone()];
    let work = dir.path().join("work");

    let first = fetch_day(&gateways, &objects, &work, day(), morning())
        .await
        .unwrap();
    let states: Vec<(Provider, BillKind, &str, &BillState)> = first
        .bills
        .iter()
        .map(|b| (b.provider, b.kind, b.key.as_str(), &b.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                Provider::Wechatpay,
                BillKind::Trade,
                "statements/2026-11-20/wechatpay.csv",
                &BillState::Asked(BillOutcome::Stored { bytes: 5 })
            ),
            (
                Provider::Wechatpay,
                BillKind::FundFlow,
                "statements/2026-11-20/wechatpay-fundflow.csv",
                &BillState::Asked(BillOutcome::Stored { bytes: 4 })
            ),
            (
                Provider::Alipay,
                BillKind::Trade,
                "statements/2026-11-20/alipay.csv",
                &BillState::Asked(BillOutcome::NotYet {
                    detail: "isp.bill_not_exist".into()
                })
            ),
        ]
    );
    let get = |key: &'static str| {
        let objects = objects.clone();
        async move { objects.get(key).await.unwrap() }
    };
    assert_eq!(
        get("statements/2026-11-20/wechatpay.csv").await,
        Some(b"trade".to_vec())
    );
    assert_eq!(
        get("statements/2026-11-20/wechatpay-fundflow.csv").await,
        Some(b"fund".to_vec())
    );
    // What the provider said before publishing is never stored as a bill.
    assert_eq!(get("statements/2026-11-20/alipay.csv").await, None);
    assert_eq!(
        next_step(&first, morning(), Some(deadline(day()))),
        Next::AskAgainIn(ASK_AGAIN_EVERY)
    );
    let record: serde_json::Value =
        serde_json::from_slice(&get("runs/2026-11-20/bills.json").await.unwrap()).unwrap();
    assert_eq!(record["bills"][2]["state"], "NOT_YET");
    assert_eq!(record["bills"][2]["detail"], "isp.bill_not_exist");
    assert_eq!(record["bills"][1]["kind"], "fundflow");
    assert_eq!(record["bills"][1]["state"], "STORED");
    assert_eq!(record["bills"][1]["bytes"], 4);

    // The second attempt asks only for what is missing.
    let later = morning() + chrono::Duration::minutes(15);
    let second = fetch_day(&gateways, &objects, &work, day(), later)
        .await
        .unwrap();
    assert_eq!(
        second.bills.iter().map(|b| &b.state).collect::<Vec<_>>(),
        vec![
            &BillState::Earlier(Earlier::AlreadyStored),
            &BillState::Earlier(Earlier::AlreadyStored),
            &BillState::Asked(BillOutcome::Stored { bytes: 6 })
        ]
    );
    assert_eq!(wechat.calls(), vec![BillKind::Trade, BillKind::FundFlow]);
    assert_eq!(alipay.calls(), vec![BillKind::Trade, BillKind::Trade]);
    assert_eq!(
        get("statements/2026-11-20/alipay.csv").await,
        Some(b"alipay".to_vec())
    );
    assert_eq!(next_step(&second, later, Some(deadline(day()))), Next::Run);
    let record: serde_json::Value =
        serde_json::from_slice(&get("runs/2026-11-20/bills.json").await.unwrap()).unwrap();
    assert_eq!(
        record["bills"][0],
        serde_json::json!({
            "provider": "wechatpay",
            "kind": "trade",
            "key": "statements/2026-11-20/wechatpay.csv",
            "state": "ALREADY_STORED"
        })
    );
    assert_eq!(missing_bills_alert(&second, true), None);
    // The scratch files are gone.
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

#[tokio::test]
async fn the_run_stops_waiting_at_the_deadline_and_says_what_each_provider_said() {
    let dir = tempfile::tempdir().unwrap();
    let objects = LocalDir::new(dir.path().join("bucket"));
    let douyin = Scripted::new(
        Provider::Douyin,
        TRADE,
        vec![(
            BillKind::Trade,
            BillOutcome::Ambiguous {
                detail: "no answer within 60s".into(),
            },
            "",
        )],
    );
    let alipay = Scripted::new(
        Provider::Alipay,
        TRADE,
        vec![(
            BillKind::Trade,
            BillOutcome::Refused {
                code: "isv.invalid-app-id".into(),
                message: "bad app".into(),
            },
            "",
        )],
    );
    let wechat = Scripted::new(
        Provider::Wechatpay,
        TRADE,
        vec![(
            BillKind::Trade,
            BillOutcome::NoBill {
                detail: "NO_STATEMENT_EXIST".into(),
            },
            "",
        )],
    );
    let gateways: Vec<Arc<dyn BillGateway>> = vec![douyin, alipay, wechat];
    let bills = fetch_day(&gateways, &objects, dir.path(), day(), morning())
        .await
        .unwrap();

    // D+1 14:00 Beijing is 06:00 UTC.
    assert_eq!(
        deadline(day()),
        Utc.with_ymd_and_hms(2026, 11, 21, 6, 0, 0).unwrap()
    );
    let just_before = deadline(day()) - chrono::Duration::seconds(1);
    assert_eq!(
        next_step(&bills, just_before, Some(deadline(day()))),
        Next::AskAgainIn(ASK_AGAIN_EVERY)
    );
    assert_eq!(
        next_step(&bills, deadline(day()), Some(deadline(day()))),
        Next::RunWithGaps
    );
    // A run an operator asked for does not wait.
    assert_eq!(next_step(&bills, morning(), None), Next::RunWithGaps);

    // While waiting, only the refusal is alerted; at the deadline, the
    // unclear one too. "No bill" is an answer, not a gap.
    let waiting = missing_bills_alert(&bills, false).unwrap();
    assert_eq!(waiting.code, "BILL_NOT_FETCHED");
    assert_eq!(waiting.reference, "bills-2026-11-20");
    assert!(waiting
        .message
        .contains("Alipay trade bill: refused: isv.invalid-app-id bad app"));
    assert!(!waiting.message.contains("Douyin"), "{}", waiting.message);
    let stopped = missing_bills_alert(&bills, true).unwrap();
    assert!(stopped
        .message
        .contains("Douyin trade bill: no clear answer: no answer within 60s"));
    assert!(
        !stopped.message.contains("Wechatpay"),
        "{}",
        stopped.message
    );
    assert_eq!(
        objects.list("statements/").await.unwrap(),
        Vec::<String>::new()
    );
}
