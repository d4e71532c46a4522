//! The store contract, run against both adapters: the in-memory store (the
//! embedded default) and DynamoDB in the moto emulator, each on a fresh store.

macro_rules! contract_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_contract_case!(contract_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_contract_case!(contract_suite!(qrpay_tests::dynamo_port));
}
