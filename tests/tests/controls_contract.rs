//! A shop's collection controls (SPEC §11: daily collection cap, large
//! payments), run against both adapters: the in-memory store and DynamoDB
//! in the moto emulator.

macro_rules! controls_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::controls_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_controls_case!(controls_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_controls_case!(controls_suite!(qrpay_tests::dynamo_port));
}
