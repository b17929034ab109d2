//! Payment channels between real node processes, with the real judge and escrow programs on
//! the devnet: deposits, 500 payments, cooperative close, settlement, withdrawals — every wei
//! accounted for; and the payment rules refuse what would pay more than someone holds.

use std::time::Duration;

use alloy_primitives::{Bytes, U256};
use avocado_cli::process::NodeProcess;
use avocado_client::app_client::ApiError;
use avocado_client::chain::{ChainClient, TxReceipt};
use avocado_client::message::{Envelope, Message, StateJson, SIGNATURE_HEADER};
use avocado_client::pay::PaymentView;
use avocado_codec::payment::{encode_accounts, Account};
use avocado_tests::nodes::{Net, NetOptions};
use serde_json::json;

fn milli(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(15u64))
}

/// The payment state with these balances and counted deposits.
fn state_data(balances: [U256; 2], counted: [U256; 2]) -> Bytes {
    let a: Vec<Account> = balances.iter().zip(counted).map(|(b, c)| Account { balance: *b, counted: c }).collect();
    Bytes::from(encode_accounts(&a))
}

async fn view(node: &NodeProcess, id: alloy_primitives::B256) -> PaymentView {
    node.api.get(&format!("/v1/pay/{id}")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn deposits_500_payments_close_and_withdrawals_conserve_every_wei() {
    let net = Net::start("pay", 2, NetOptions { escrow: true, min_challenge: 60, ..Default::default() }).await;
    let (chain, nodes, keys, escrow) = (&net.chain, &net.nodes, &net.keys, net.escrow.unwrap());
    let client = chain.client(&keys[0]).await;
    let wallet_before: Vec<U256> =
        futures_join(nodes.iter().map(|n| client.balance(n.address))).await.into_iter().map(Result::unwrap).collect();

    let opened = nodes[0]
        .api
        .post(
            "/v1/pay",
            json!({ "participants": [nodes[1].address], "peers": [nodes[1].peer_url],
                    "challengeDuration": 60, "nonce": 5, "deposit": milli(300) }),
        )
        .await
        .unwrap();
    let id: alloy_primitives::B256 = serde_json::from_value(opened["channelId"].clone()).unwrap();
    let mut gas_paid = [U256::ZERO; 2];
    let fee = |v: &serde_json::Value| serde_json::from_value::<TxReceipt>(v.clone()).unwrap().fee();
    gas_paid[0] += fee(&opened["open"]) + fee(&opened["deposit"]);
    let d = nodes[1].api.post(&format!("/v1/pay/{id}/deposit"), json!({ "amount": milli(200) })).await.unwrap();
    gas_paid[1] += fee(&d["deposit"]);

    // 500 payments both ways.
    let mut expected = [milli(300), milli(200)];
    for i in 0..500u64 {
        let from = (i % 2) as usize;
        let amount = milli(1 + i % 5);
        nodes[from].api.post(&format!("/v1/pay/{id}/send"), json!({ "amount": amount })).await.unwrap();
        expected[from] -= amount;
        expected[1 - from] += amount;
    }
    // Paying more than one holds is refused by one's own node, and nothing moves.
    let before = view(&nodes[0], id).await;
    let err = nodes[0].api.post(&format!("/v1/pay/{id}/send"), json!({ "amount": milli(10_000) })).await.unwrap_err();
    assert!(matches!(&err, ApiError::Status { status: 422, message } if message.contains("you hold")), "{err}");
    // A state that takes from the other participant: one's own node refuses to propose it, and
    // the other's node refuses to sign it even when it comes straight from the proposer's key.
    let mut theft = expected;
    theft[0] += milli(50);
    theft[1] -= milli(50);
    let counted = [milli(300), milli(200)];
    let err = nodes[0].api.update(id, state_data(theft, counted), false, Duration::from_secs(10)).await;
    assert!(matches!(&err, Err(ApiError::Status { status: 422, message }) if message.contains("takes")), "{err:?}");
    let base = nodes[1].api.channel(id).await.unwrap().latest.unwrap();
    let state = StateJson {
        channel_id: id,
        version: base.state.version + 1,
        data: state_data(theft, counted),
        is_final: false,
    };
    let envelope = Envelope::seal(keys[0].credential(), &chain.domain(), &Message::ProposeUpdate { state, base });
    let resp = reqwest::Client::new()
        .post(format!("{}/peer/v1/message", nodes[1].peer_url))
        .header(SIGNATURE_HEADER, &envelope.signature)
        .body(envelope.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let text = resp.text().await.unwrap();
    assert!(text.contains("only the proposer may pay"), "{text}");
    // Counting more than the escrow holds, even paid to oneself: refused.
    let mut inflated = expected;
    inflated[0] += milli(1);
    let over = [counted[0] + milli(1), counted[1]];
    let err = nodes[0].api.update(id, state_data(inflated, over), false, Duration::from_secs(10)).await;
    assert!(
        matches!(&err, Err(ApiError::Status { status: 422, message }) if message.contains("escrow holds")),
        "{err:?}"
    );
    // More balance than counted: refused.
    let err = nodes[0].api.update(id, state_data(inflated, counted), false, Duration::from_secs(10)).await;
    assert!(matches!(&err, Err(ApiError::Status { status: 422, message }) if message.contains("add up to")), "{err:?}");
    let after = view(&nodes[0], id).await;
    assert_eq!(after.balances, before.balances);

    let v = view(&nodes[1], id).await;
    assert_eq!(v.balances, expected.to_vec());
    assert_eq!(v.deposits, vec![milli(300), milli(200)]);

    let closed = nodes[1].api.post(&format!("/v1/pay/{id}/close"), json!({})).await.unwrap();
    gas_paid[1] += fee(&closed["conclude"]) + fee(&closed["settle"]);
    assert!(view(&nodes[0], id).await.settled);
    for (i, n) in nodes.iter().enumerate() {
        let w = n.api.post("/v1/pay/withdraw", json!({})).await.unwrap();
        let amount: U256 = serde_json::from_value(w["amount"].clone()).unwrap();
        assert_eq!(amount, expected[i], "participant {i} withdraws its final balance");
        gas_paid[i] += fee(&w["withdraw"]);
    }
    let deposits = [milli(300), milli(200)];
    for (i, n) in nodes.iter().enumerate() {
        let now = client.balance(n.address).await.unwrap();
        assert_eq!(now + gas_paid[i] + deposits[i], wallet_before[i] + expected[i], "participant {i}, to the wei");
    }
    assert_eq!(client.balance(escrow).await.unwrap(), U256::ZERO, "the escrow paid out everything");
    // A second withdrawal has nothing to send.
    let err = nodes[0].api.post("/v1/pay/withdraw", json!({})).await.unwrap_err();
    assert!(err.to_string().contains("NothingToWithdraw"), "{err}");
    net.stop().await;
}

async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in fs {
        out.push(f.await);
    }
    out
}
