//! Report rows' resolutions in the store (SPEC §11), on both adapters: the
//! in-memory store and DynamoDB in the moto emulator. Each change is kept
//! with who and when; concurrent changes to one row are all kept, one
//! after the other; a day's list holds that shop's day only.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use qrpay_domain::resolution::{Assignee, ResolutionNote};
use qrpay_domain::{
    BusinessDate, Finding, OperatorId, ResolutionRequest, ResolutionStatus, RowId, ShopId,
};
use qrpay_store::Store;

fn shop(id: &str) -> ShopId {
    ShopId::parse(id).expect("shop id")
}

fn day(text: &str) -> BusinessDate {
    BusinessDate::parse(text).expect("date")
}

fn row(reference: &str) -> RowId {
    RowId::of("PAYMENT", reference, Some("alipay"), 0, None)
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 2, 0, 0)
        .single()
        .expect("time")
        + Duration::minutes(minutes)
}

fn operator(id: &str) -> OperatorId {
    OperatorId::parse(id).expect("operator")
}

fn finding() -> Finding {
    Finding::of("AMOUNT_MISMATCH", Some("100.00"), Some("99.50"), None)
}

fn request(
    status: ResolutionStatus,
    note: Option<&str>,
    assignee: Option<&str>,
) -> ResolutionRequest {
    ResolutionRequest {
        status,
        note: note.map(|n| ResolutionNote::parse(n).expect("note")),
        assignee: assignee.map(|a| Assignee::parse(a).expect("assignee")),
    }
}

async fn each_change_is_kept_with_who_and_when(store: Arc<dyn Store>) {
    let key = (shop("shop-1"), day("2026-12-02"), row("ord-1"));
    let first = store
        .record_resolution(
            key.clone(),
            request(ResolutionStatus::Open, None, Some("财务 王")),
            finding(),
            operator("owner-1"),
            at(0),
        )
        .await
        .expect("first");
    assert_eq!((first.version, first.history.len()), (1, 0));
    let second = store
        .record_resolution(
            key.clone(),
            request(
                ResolutionStatus::Resolved,
                Some("渠道已退回差额 0.50"),
                Some("财务 王"),
            ),
            finding(),
            operator("ops-1"),
            at(30),
        )
        .await
        .expect("second");
    assert_eq!(second.version, 2);
    assert_eq!(second.current.status, ResolutionStatus::Resolved);
    assert_eq!(second.current.by, operator("ops-1"));
    assert_eq!(second.current.at, at(30));
    assert_eq!(second.current.note.as_deref(), Some("渠道已退回差额 0.50"));
    assert_eq!(second.current.assignee.as_deref(), Some("财务 王"));
    assert_eq!(second.history.len(), 1);
    assert_eq!(
        (
            second.history[0].status,
            &second.history[0].by,
            second.history[0].at
        ),
        (ResolutionStatus::Open, &operator("owner-1"), at(0))
    );
    let listed = store
        .list_resolutions(&shop("shop-1"), day("2026-12-02"))
        .await
        .expect("list");
    assert_eq!(listed, vec![second]);
}

async fn a_day_lists_only_that_shops_day_in_row_order(store: Arc<dyn Store>) {
    let records = [
        ("shop-1", "2026-12-02", "ord-b"),
        ("shop-1", "2026-12-02", "ord-a"),
        ("shop-1", "2026-12-01", "ord-a"),
        ("shop-1", "2026-12-03", "ord-a"),
        ("shop-10", "2026-12-02", "ord-a"),
        ("shop-2", "2026-12-02", "ord-c"),
    ];
    for (s, d, r) in records {
        store
            .record_resolution(
                (shop(s), day(d), row(r)),
                request(ResolutionStatus::Waived, Some("accepted"), None),
                finding(),
                operator("owner-1"),
                at(0),
            )
            .await
            .expect("record");
    }
    let listed = store
        .list_resolutions(&shop("shop-1"), day("2026-12-02"))
        .await
        .expect("list");
    let mut expected = vec![row("ord-a"), row("ord-b")];
    expected.sort();
    let ids: Vec<RowId> = listed.iter().map(|r| r.row_id).collect();
    assert_eq!(ids, expected);
    assert!(listed
        .iter()
        .all(|r| r.shop_id == shop("shop-1") && r.date == day("2026-12-02")));
    let none = store
        .list_resolutions(&shop("shop-3"), day("2026-12-02"))
        .await
        .expect("list");
    assert!(none.is_empty());
}

/// Eight people record on one row at once: every change is kept, each
/// exactly once, and the versions count them.
async fn concurrent_changes_to_one_row_are_all_kept(store: Arc<dyn Store>) {
    let key = (shop("shop-1"), day("2026-12-02"), row("ord-race"));
    let writers = 8;
    let mut tasks = Vec::new();
    for i in 0..writers {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_resolution(
                    key,
                    request(ResolutionStatus::Open, Some(&format!("look {i}")), None),
                    finding(),
                    operator(&format!("op-{i}")),
                    at(i),
                )
                .await
        }));
    }
    let mut versions = BTreeSet::new();
    for task in tasks {
        let recorded = task.await.expect("task").expect("recorded");
        versions.insert(recorded.version);
    }
    // Each writer wrote over a different version.
    assert_eq!(versions, (1..=writers as u64).collect::<BTreeSet<_>>());
    let listed = store
        .list_resolutions(&shop("shop-1"), day("2026-12-02"))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let last = &listed[0];
    assert_eq!(last.version, writers as u64);
    let mut by: Vec<String> = last
        .history
        .iter()
        .chain([&last.current])
        .map(|c| c.by.to_string())
        .collect();
    by.sort();
    let mut expected: Vec<String> = (0..writers).map(|i| format!("op-{i}")).collect();
    expected.sort();
    assert_eq!(by, expected);
}

qrpay_tests::on_both_stores!(
    each_change_is_kept_with_who_and_when,
    a_day_lists_only_that_shops_day_in_row_order,
    concurrent_changes_to_one_row_are_all_kept,
);
