//! The reconciliation contract (day ledger, summaries, once-only claims),
//! run against both adapters: the in-memory store and DynamoDB in moto.

macro_rules! reconciliation_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::reconciliation_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_reconciliation_case!(reconciliation_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_reconciliation_case!(reconciliation_suite!(qrpay_tests::dynamo_port));
}
