//! The SQS adapter against moto's real SQS: what is enqueued arrives intact.

use qrpay_aws::sqs::SqsQueue;
use qrpay_domain::{PayoutId, ShopId};
use qrpay_queue::{PayoutMessage, PayoutQueue};

#[tokio::test]
async fn sqs_queue_delivers_the_payout_message() {
    let client = qrpay_tests::sqs_client(qrpay_tests::emulator::endpoint());
    let name = qrpay_tests::unique_name("payouts");
    let url = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client.clone(), url.clone());
    let msg = PayoutMessage {
        shop_id: ShopId::parse("shop-1").unwrap(),
        payout_id: PayoutId::parse("po_01HX").unwrap(),
    };
    queue.enqueue(&msg).await.unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(PayoutMessage::from_json(bodies[0]).unwrap(), msg);
}
