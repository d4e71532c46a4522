//! The receivables contract, run against both adapters: the in-memory store
//! and DynamoDB in the moto emulator, each on a fresh store.

macro_rules! receivable_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::receivable_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_receivable_case!(receivable_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_receivable_case!(receivable_suite!(qrpay_tests::dynamo_port));
}
