//! Payment channels on the generic node: ETH held by the escrow contract, balances in the
//! channel's state (`abi.encode(uint256[])`, one per participant).
//!
//! A channel is a payment channel when its `executive` is the escrow this node was started with
//! (`--escrow`). For those, the node signs — its own proposals and anyone else's — only states
//! that follow the payment rules:
//! - the data is one balance per participant;
//! - nobody but the proposer loses anything (a participant pays only from its own balance);
//! - the balances never add up to more than the escrow holds for the channel (read on chain
//!   whenever a state adds up to more than the one it builds on, i.e. a deposit is counted).
//!
//! Opening deposits nothing until the channel exists: version 0 holds zero balances, then each
//! deposit is counted by an update. A channel that is never agreed holds no one's money.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use avocado_codec::payment::{decode_balances, encode_balances, IAvocadoEscrow as E};
use avocado_codec::State;
use axum::{
    extract::{Path, State as AxState},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};

use crate::chain::TxReceipt;
use crate::message::Terms;
use crate::node::app::{channel_id, Body};
use crate::node::{Node, NodeError, Outcome};

/// Reads a `uint256` answer.
fn u256(out: &[u8]) -> U256 {
    if out.len() >= 32 {
        U256::from_be_slice(&out[..32])
    } else {
        U256::ZERO
    }
}

impl Node {
    /// The escrow, or an error saying the node has none.
    fn escrow(&self) -> Result<Address, NodeError> {
        self.escrow_address()
            .ok_or_else(|| NodeError::Invalid("this node runs without an escrow: start it with --escrow".into()))
    }

    /// Whether `terms` make a payment channel of this node's escrow.
    pub fn is_payment(&self, terms: &Terms) -> bool {
        self.escrow_address().is_some_and(|e| terms.executive == e)
    }

    /// What the escrow holds for `id`.
    async fn deposits(&self, id: B256) -> Result<U256, NodeError> {
        let escrow = self.escrow()?;
        let out = self.chain_client()?.read(escrow, E::totalDepositsCall { channelId: id }.abi_encode()).await?;
        Ok(u256(&out))
    }

    /// The payment rules (see the module docs) for `new`, proposed by participant `proposer` on
    /// top of `old` (`None` for version 0). Other channels pass untouched.
    pub(crate) async fn check_payment(
        &self,
        terms: &Terms,
        old: Option<&State>,
        new: &State,
        proposer: usize,
    ) -> Result<(), NodeError> {
        if !self.is_payment(terms) {
            return Ok(());
        }
        let n = terms.participants.len();
        let new_b = decode_balances(&new.data, n)
            .ok_or_else(|| NodeError::Invalid(format!("a payment state holds {n} balances (abi.encode(uint256[]))")))?;
        let old_b = match old {
            Some(s) => decode_balances(&s.data, n).unwrap_or_else(|| vec![U256::ZERO; n]),
            None => vec![U256::ZERO; n],
        };
        for (i, (was, now)) in old_b.iter().zip(&new_b).enumerate() {
            if i != proposer && now < was {
                return Err(NodeError::Invalid(format!(
                    "the state takes {} wei from participant {i}; only the proposer may pay",
                    was - now
                )));
            }
        }
        let sum = new_b.iter().try_fold(U256::ZERO, |a, b| a.checked_add(*b));
        let Some(sum) = sum else { return Err(NodeError::Invalid("the balances overflow".into())) };
        let old_sum: U256 = old_b.iter().copied().fold(U256::ZERO, |a, b| a.saturating_add(b));
        if sum > old_sum {
            let held = self.deposits(new.channelId).await?;
            if sum > held {
                return Err(NodeError::Invalid(format!(
                    "the balances add up to {sum} wei but the escrow holds {held} wei for the channel"
                )));
            }
        }
        Ok(())
    }

    fn my_balances(&self, id: B256, terms: &Terms) -> Result<Vec<U256>, NodeError> {
        let latest = self.store().latest(id)?.ok_or_else(|| NodeError::Conflict("no fully signed state yet".into()))?;
        decode_balances(&latest.state.data, terms.participants.len())
            .ok_or_else(|| NodeError::Invalid(format!("channel {id} is not a payment channel")))
    }

    /// The channel's terms and this node's index, after catching up with the latest state a
    /// peer may hold (balances are computed from it).
    async fn payment_terms(&self, id: B256) -> Result<(Terms, usize), NodeError> {
        let record = self.store().channel(id)?.ok_or_else(|| NodeError::NotFound(format!("no channel {id}")))?;
        if !self.is_payment(&record.terms) {
            return Err(NodeError::Invalid(format!("channel {id} is not a payment channel of this node's escrow")));
        }
        self.catch_up(&record).await?;
        Ok((record.terms, record.me))
    }

    async fn signed_update(&self, id: B256, balances: &[U256], wait: Duration) -> Result<u64, NodeError> {
        match self.propose_update(id, Bytes::from(encode_balances(balances)), false, wait).await? {
            Outcome::Signed(s) => Ok(s.state.version),
            Outcome::Pending { version } => Err(NodeError::Unreachable(format!(
                "v{version} is not signed by everyone yet; it settles when they decide"
            ))),
        }
    }

    /// Deposits `amount` into the escrow for channel `id` and counts it in an update.
    pub async fn pay_deposit(&self, id: B256, amount: U256, wait: Duration) -> Result<(TxReceipt, u64), NodeError> {
        let (terms, me) = self.payment_terms(id).await?;
        let escrow = self.escrow()?;
        let call =
            E::depositCall { judge: self.domain().judge, params: (&avocado_codec::ChannelParams::from(&terms)).into() };
        let receipt = self.chain_client()?.transact(escrow, call.abi_encode(), amount).await?;
        let mut b = self.my_balances(id, &terms)?;
        b[me] += amount;
        Ok((receipt, self.signed_update(id, &b, wait).await?))
    }

    /// Pays `amount` wei to participant `to` (by default the other one of a 2-party channel).
    pub async fn pay_send(
        &self,
        id: B256,
        amount: U256,
        to: Option<Address>,
        wait: Duration,
    ) -> Result<u64, NodeError> {
        let (terms, me) = self.payment_terms(id).await?;
        let to = match to {
            Some(a) => terms
                .participants
                .iter()
                .position(|p| *p == a)
                .ok_or_else(|| NodeError::Invalid(format!("{a} is not a participant of {id}")))?,
            None if terms.participants.len() == 2 => 1 - me,
            None => return Err(NodeError::BadRequest("name the payee (--to) in a channel of more than two".into())),
        };
        if to == me {
            return Err(NodeError::Invalid("paying yourself changes nothing".into()));
        }
        let mut b = self.my_balances(id, &terms)?;
        if b[me] < amount {
            return Err(NodeError::Invalid(format!("you hold {} wei in this channel, less than {amount}", b[me])));
        }
        b[me] -= amount;
        b[to] += amount;
        self.signed_update(id, &b, wait).await
    }

    /// The channel's balances, deposits and settlement.
    pub async fn pay_view(&self, id: B256) -> Result<PaymentView, NodeError> {
        let (terms, me) = self.payment_terms(id).await?;
        let escrow = self.escrow()?;
        let chain = self.chain_client()?;
        let mut deposits = Vec::new();
        for p in &terms.participants {
            let out = chain.read(escrow, E::depositedCall { channelId: id, participant: *p }.abi_encode()).await?;
            deposits.push(u256(&out));
        }
        let settled = u256(&chain.read(escrow, E::isSettledCall { channelId: id }.abi_encode()).await?) != U256::ZERO;
        let version = self.store().latest(id)?.map(|s| s.state.version);
        Ok(PaymentView {
            channel_id: id,
            participants: terms.participants.clone(),
            me,
            version,
            balances: self.my_balances(id, &terms).unwrap_or_default(),
            deposits,
            settled,
        })
    }

    /// Cooperative close, then the escrow pays out the final balances.
    pub async fn pay_close(&self, id: B256, wait: Duration) -> Result<(TxReceipt, TxReceipt), NodeError> {
        let (terms, _) = self.payment_terms(id).await?;
        let (_, concluded) = self.close(id, None, wait).await?;
        let settled = self.pay_settle(id, &terms).await?;
        Ok((concluded, settled))
    }

    /// Submits the final state's data to the escrow (anyone may; the judge must report Final).
    pub async fn pay_settle(&self, id: B256, terms: &Terms) -> Result<TxReceipt, NodeError> {
        let latest = self.store().latest(id)?.ok_or_else(|| NodeError::Conflict("no fully signed state".into()))?;
        let call = E::settleCall {
            judge: self.domain().judge,
            params: (&avocado_codec::ChannelParams::from(terms)).into(),
            data: latest.state.data.clone(),
        };
        Ok(self.chain_client()?.transact(self.escrow()?, call.abi_encode(), U256::ZERO).await?)
    }

    /// Withdraws this node's credit from the escrow.
    pub async fn pay_withdraw(&self) -> Result<(U256, TxReceipt), NodeError> {
        let escrow = self.escrow()?;
        let chain = self.chain_client()?;
        let credit = u256(&chain.read(escrow, E::creditCall { account: self.address() }.abi_encode()).await?);
        let receipt = chain.transact(escrow, E::withdrawCall {}.abi_encode(), U256::ZERO).await?;
        Ok((credit, receipt))
    }
}

/// A payment channel as the app API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// Channel id.
    pub channel_id: B256,
    /// Participants.
    pub participants: Vec<Address>,
    /// This node's index.
    pub me: usize,
    /// Version of the latest fully signed state.
    pub version: Option<u64>,
    /// Balances in the latest fully signed state (wei).
    pub balances: Vec<U256>,
    /// What each participant deposited in the escrow (wei).
    pub deposits: Vec<U256>,
    /// Whether the escrow paid the channel out.
    pub settled: bool,
}

/// `POST /v1/pay`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayOpenRequest {
    /// The other participants, in order (this node is participant 0).
    pub participants: Vec<Address>,
    /// Their peer URLs.
    pub peers: Vec<String>,
    /// Dispute window (seconds).
    pub challenge_duration: u64,
    /// Channel nonce; random when absent.
    #[serde(default)]
    pub nonce: Option<u64>,
    /// What this node deposits (wei), counted in version 1.
    #[serde(default)]
    pub deposit: U256,
}

/// `POST /v1/pay/{id}/send` and `/deposit`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmountRequest {
    /// Wei.
    pub amount: U256,
    /// Payee (send only).
    #[serde(default)]
    pub to: Option<Address>,
}

fn wait() -> Duration {
    Duration::from_secs(30)
}

fn err(e: NodeError) -> Response {
    crate::node::peer::error_response(&e)
}

/// The payment routes of the app API.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/v1/pay", post(open))
        .route("/v1/pay/withdraw", post(withdraw))
        .route("/v1/pay/{id}", get(view))
        .route("/v1/pay/{id}/deposit", post(deposit))
        .route("/v1/pay/{id}/send", post(send))
        .route("/v1/pay/{id}/close", post(close))
}

async fn open(AxState(node): AxState<Arc<Node>>, Body(req): Body<PayOpenRequest>) -> Result<Response, Response> {
    let escrow = node.escrow().map_err(err)?;
    let mut participants = vec![node.address()];
    participants.extend(req.participants);
    let mut peers = vec![node.peer_url().to_string()];
    peers.extend(req.peers);
    let n = participants.len();
    let terms = Terms {
        participants,
        nonce: req.nonce.unwrap_or_else(rand::random),
        challenge_duration: req.challenge_duration,
        executive: escrow,
    };
    let zeros = Bytes::from(encode_balances(&vec![U256::ZERO; n]));
    let (id, o) = node.propose_channel(terms, peers, zeros, wait()).await.map_err(err)?;
    let Outcome::Signed(_) = o else {
        return Err(err(NodeError::Unreachable(format!("channel {id} waits for the other participants' decisions"))));
    };
    let opened = node.open_on_chain(id).await.map_err(err)?;
    let mut body = serde_json::json!({ "channelId": id, "open": opened });
    if !req.deposit.is_zero() {
        let (receipt, version) = node.pay_deposit(id, req.deposit, wait()).await.map_err(err)?;
        body["deposit"] = serde_json::json!(receipt);
        body["version"] = serde_json::json!(version);
    }
    Ok(Json(body).into_response())
}

async fn deposit(
    AxState(node): AxState<Arc<Node>>,
    Path(id): Path<String>,
    Body(req): Body<AmountRequest>,
) -> Result<Response, Response> {
    let id = channel_id(&id).map_err(err)?;
    let (receipt, version) = node.pay_deposit(id, req.amount, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "deposit": receipt, "version": version })).into_response())
}

async fn send(
    AxState(node): AxState<Arc<Node>>,
    Path(id): Path<String>,
    Body(req): Body<AmountRequest>,
) -> Result<Response, Response> {
    let id = channel_id(&id).map_err(err)?;
    let version = node.pay_send(id, req.amount, req.to, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "version": version })).into_response())
}

async fn view(AxState(node): AxState<Arc<Node>>, Path(id): Path<String>) -> Result<Response, Response> {
    let id = channel_id(&id).map_err(err)?;
    Ok(Json(node.pay_view(id).await.map_err(err)?).into_response())
}

async fn close(AxState(node): AxState<Arc<Node>>, Path(id): Path<String>) -> Result<Response, Response> {
    let id = channel_id(&id).map_err(err)?;
    let (concluded, settled) = node.pay_close(id, wait()).await.map_err(err)?;
    Ok(Json(serde_json::json!({ "channelId": id, "conclude": concluded, "settle": settled })).into_response())
}

async fn withdraw(AxState(node): AxState<Arc<Node>>) -> Result<Response, Response> {
    let (amount, receipt) = node.pay_withdraw().await.map_err(err)?;
    Ok(Json(serde_json::json!({ "amount": amount, "withdraw": receipt })).into_response())
}
