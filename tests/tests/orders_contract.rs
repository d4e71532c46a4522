//! The orders listing contract, run against both adapters: the in-memory
//! store and DynamoDB in the moto emulator.

macro_rules! orders_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::orders_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_orders_case!(orders_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_orders_case!(orders_suite!(qrpay_tests::dynamo_port));
}
