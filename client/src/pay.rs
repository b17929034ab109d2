//! Payment channels on the generic node: ETH held by the escrow contract, one `(balance,
//! counted)` account per participant in the channel's state (`avocado_codec::payment`).
//!
//! A channel is a payment channel when its `executive` is the escrow this node was started with
//! (`--escrow`). For those, the node signs — its own proposals and anyone else's — only states
//! that keep the payment invariant (see `avocado_codec::payment` and the escrow's README): an
//! honest participant can always obtain on chain at least its balance in the latest state it
//! accepted plus every deposit of its own that no state it accepted counted. The rules:
//! - the data is one account per participant, and the balances add up to the counts;
//! - no count goes down, and a raised count is backed by that participant's deposits as the
//!   escrow shows them on chain (read before signing);
//! - a count raises only its own participant's balance, and nobody but the proposer loses
//!   anything (a participant pays only from its own balance).
//!
//! Opening deposits nothing until the channel exists: version 0 holds empty accounts, then each
//! deposit is counted by an update. A deposit the others refuse to count stays its depositor's:
//! the escrow pays it back at settlement. Deposits are made only while no dispute runs.
//!
//! The HTTP face of these operations (`/v1/pay…`) is [`crate::node::pay_api`], beside the app
//! API's other routes; nothing here knows HTTP.

use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_sol_types::SolCall;
use avocado_codec::payment::IAvocadoEscrow as E;
use avocado_codec::payment::{decode_accounts, empty_accounts, encode_accounts, Account};
use avocado_codec::{phase, State};
use serde::{Deserialize, Serialize};

use crate::chain::TxReceipt;
use crate::message::Terms;
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

    /// What `who` deposited in the escrow for `id`, as the chain shows it now.
    async fn deposited(&self, id: B256, who: Address) -> Result<U256, NodeError> {
        let escrow = self.escrow()?;
        let call = E::depositedCall { channelId: id, participant: who };
        Ok(u256(&self.chain_client()?.read(escrow, call.abi_encode()).await?))
    }

    /// What `who` deposited for `id` as of the newest block at the watchtower's confirmation
    /// depth: what a count may rely on. A count of a deposit a reorganisation later removes
    /// would leave a state the escrow refuses to settle.
    async fn confirmed_deposit(&self, id: B256, who: Address) -> Result<U256, NodeError> {
        let depth = self.confirmations();
        if depth == 0 {
            return self.deposited(id, who).await;
        }
        let escrow = self.escrow()?;
        let chain = self.chain_client()?;
        let block = chain.head().await?.number.saturating_sub(depth);
        let call = E::depositedCall { channelId: id, participant: who };
        Ok(u256(&chain.read_at(escrow, call.abi_encode(), block).await?))
    }

    /// Waits until the block `block` is `confirmations` deep (at most `patience`).
    async fn confirmed(&self, block: u64, patience: Duration) -> Result<(), NodeError> {
        let depth = self.confirmations();
        let started = std::time::Instant::now();
        loop {
            let head = self.chain_client()?.head().await?.number;
            if head >= block + depth {
                return Ok(());
            }
            if started.elapsed() >= patience {
                return Err(NodeError::Unreachable(format!(
                    "block {block} is not {depth} blocks deep yet (head {head})"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
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
        let raised = crate::protocol::payment::raised_counts(terms.participants.len(), old, new, proposer)?;
        for (i, counted) in raised {
            let deposited = self.confirmed_deposit(new.channelId, terms.participants[i]).await?;
            crate::protocol::payment::check_deposit(i, counted, deposited)?;
        }
        Ok(())
    }

    fn my_accounts(&self, id: B256, terms: &Terms) -> Result<Vec<Account>, NodeError> {
        let latest = self.store().latest(id)?.ok_or_else(|| NodeError::Conflict("no fully signed state yet".into()))?;
        decode_accounts(&latest.state.data, terms.participants.len())
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

    async fn signed_update(&self, id: B256, accounts: &[Account], wait: Duration) -> Result<u64, NodeError> {
        match self.propose_update(id, Bytes::from(encode_accounts(accounts)), false, wait).await? {
            Outcome::Signed(s) => Ok(s.state.version),
            Outcome::Pending { version } => Err(NodeError::Unreachable(format!(
                "v{version} is not signed by everyone yet; it settles when they decide"
            ))),
        }
    }

    /// Opens a payment channel of this node's escrow with `others` (reached at `peers`), this
    /// node participant 0: version 0 holds empty accounts, fully signed within `wait`, then
    /// `open` is posted and, when `deposit` is not zero, the deposit is made and counted.
    pub async fn pay_open(&self, open: PayOpen, wait: Duration) -> Result<PayOpened, NodeError> {
        let escrow = self.escrow()?;
        let mut participants = vec![self.address()];
        participants.extend(open.others);
        let mut peers = vec![self.peer_url().to_string()];
        peers.extend(open.peers);
        let n = participants.len();
        let terms =
            Terms { participants, nonce: open.nonce, challenge_duration: open.challenge_duration, executive: escrow };
        let zeros = Bytes::from(empty_accounts(n));
        let (id, o) = self.propose_channel(terms, peers, zeros, wait).await?;
        let Outcome::Signed(_) = o else {
            return Err(NodeError::Unreachable(format!("channel {id} waits for the other participants' decisions")));
        };
        let opened = self.open_on_chain(id).await?;
        let deposit = if open.deposit.is_zero() { None } else { Some(self.pay_deposit(id, open.deposit, wait).await?) };
        Ok(PayOpened { channel_id: id, open: opened, deposit })
    }

    /// Deposits `amount` into the escrow for channel `id` and counts it in an update.
    ///
    /// The judge's phase is read first: while a dispute runs (or once the channel is final) no
    /// state can count a deposit any more, so none is made. If the others refuse to count it, the
    /// deposit stays this participant's: the escrow pays it back at settlement.
    pub async fn pay_deposit(&self, id: B256, amount: U256, wait: Duration) -> Result<(TxReceipt, u64), NodeError> {
        let (terms, _) = self.payment_terms(id).await?;
        let status = self.chain_client()?.status(id).await?;
        match status.phase {
            phase::CHALLENGE => {
                return Err(NodeError::Conflict(format!(
                    "a dispute runs on channel {id} (v{} until {}): no deposit can be counted any more",
                    status.version, status.finalizes_at
                )))
            }
            phase::FINAL => return Err(NodeError::Conflict(format!("channel {id} is final: deposits are closed"))),
            _ => {}
        }
        let escrow = self.escrow()?;
        let call =
            E::depositCall { judge: self.domain().judge, params: (&avocado_codec::ChannelParams::from(&terms)).into() };
        let receipt = self.chain_client()?.transact(escrow, call.abi_encode(), amount).await?;
        let counted = match self.confirmed(receipt.block, wait.max(Duration::from_secs(60))).await {
            Ok(()) => self.pay_count(id, wait).await,
            Err(e) => Err(e),
        };
        let version = counted.map_err(|e| {
            NodeError::Rejected(format!(
                "deposited {amount} wei (transaction {}), but it is not counted yet: {e}. It stays yours — the \
                 escrow pays uncounted deposits back at settlement — and `pay count` counts it later",
                receipt.tx
            ))
        })?;
        Ok((receipt, version))
    }

    /// Counts every deposit of this node's in the escrow that the latest state does not count yet
    /// (one update raising its count and its balance alike).
    pub async fn pay_count(&self, id: B256, wait: Duration) -> Result<u64, NodeError> {
        let (terms, me) = self.payment_terms(id).await?;
        let deposited = self.confirmed_deposit(id, self.address()).await?;
        let mut a = self.my_accounts(id, &terms)?;
        if deposited <= a[me].counted {
            return Err(NodeError::Conflict(format!("every deposit of yours ({deposited} wei) is counted already")));
        }
        let newly = deposited - a[me].counted;
        a[me].balance += newly;
        a[me].counted = deposited;
        self.signed_update(id, &a, wait).await
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
        let mut a = self.my_accounts(id, &terms)?;
        if a[me].balance < amount {
            return Err(NodeError::Invalid(format!(
                "you hold {} wei in this channel, less than {amount}",
                a[me].balance
            )));
        }
        a[me].balance -= amount;
        a[to].balance += amount;
        self.signed_update(id, &a, wait).await
    }

    /// The channel's balances, deposits and settlement.
    pub async fn pay_view(&self, id: B256) -> Result<PaymentView, NodeError> {
        let (terms, me) = self.payment_terms(id).await?;
        let escrow = self.escrow()?;
        let chain = self.chain_client()?;
        let mut deposits = Vec::new();
        for p in &terms.participants {
            deposits.push(self.deposited(id, *p).await?);
        }
        let settled = u256(&chain.read(escrow, E::isSettledCall { channelId: id }.abi_encode()).await?) != U256::ZERO;
        let version = self.store().latest(id)?.map(|s| s.state.version);
        let accounts = self.my_accounts(id, &terms).unwrap_or_default();
        Ok(PaymentView {
            channel_id: id,
            participants: terms.participants.clone(),
            me,
            version,
            balances: accounts.iter().map(|a| a.balance).collect(),
            counted: accounts.iter().map(|a| a.counted).collect(),
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
    /// Deposits each participant has counted in the latest fully signed state (wei).
    #[serde(default)]
    pub counted: Vec<U256>,
    /// What each participant deposited in the escrow (wei); what is not counted goes back to its
    /// depositor at settlement.
    pub deposits: Vec<U256>,
    /// Whether the escrow paid the channel out.
    pub settled: bool,
}

/// A payment channel to open ([`Node::pay_open`]).
#[derive(Clone, Debug)]
pub struct PayOpen {
    /// The other participants, in order (this node is participant 0).
    pub others: Vec<Address>,
    /// Their peer URLs.
    pub peers: Vec<String>,
    /// Dispute window (seconds).
    pub challenge_duration: u64,
    /// Channel nonce.
    pub nonce: u64,
    /// What this node deposits (wei), counted in version 1; zero deposits nothing.
    pub deposit: U256,
}

/// What [`Node::pay_open`] did.
#[derive(Clone, Debug)]
pub struct PayOpened {
    /// The channel.
    pub channel_id: B256,
    /// The `open` transaction.
    pub open: TxReceipt,
    /// The deposit's transaction and the version counting it, when one was made.
    pub deposit: Option<(TxReceipt, u64)>,
}
