//! The KPI counters (SPEC §11), run against both adapters: the in-memory
//! store and DynamoDB in the moto emulator.

macro_rules! kpi_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::kpi_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_kpi_case!(kpi_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_kpi_case!(kpi_suite!(qrpay_tests::dynamo_port));
}
