//! The collection contract (codes, nonces, provider notices), run against
//! both adapters: the in-memory store and DynamoDB in the moto emulator.

macro_rules! collection_suite {
    ($factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                qrpay_tests::collection_contract::$case($factory().await).await;
            }
        )*
    };
}

mod memory {
    qrpay_tests::for_each_collection_case!(collection_suite!(qrpay_tests::memory_port));
}

mod dynamodb {
    qrpay_tests::for_each_collection_case!(collection_suite!(qrpay_tests::dynamo_port));
}
