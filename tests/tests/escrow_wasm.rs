//! The payment escrow and the judge, both as their real WASM (`scripts/build-contracts.sh`),
//! deployed by init code and activated through ArbWasm on the devnet's chain: deposits, 500
//! payments off chain, a cooperative close, settlement and withdrawals conserve every wei; each
//! refusal reverts with its error and moves nothing.

use alloy_primitives::{keccak256, Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolError, SolInterface};
use avocado_codec::payment::{encode_accounts, Account, EscrowParams, IAvocadoEscrow as E};
use avocado_codec::{signer, ChannelParams, Domain, IAvocadoJudge as J, State};
use avocado_devnet::chain::{arbos, Chain, ChainConfig, Executed, BASE_FEE, DEV_ACCOUNT};
use avocado_devnet::stylus;
use k256::ecdsa::SigningKey;
use revm::primitives::TxKind;

const CHAIN_ID: u64 = 412_346;

fn code(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/{name}/{name}.bin"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}. Build it: scripts/build-contracts.sh", path.display()))
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// `abi.encode(Account[])` of `(balance, counted)` pairs.
fn accounts(pairs: &[(U256, U256)]) -> Vec<u8> {
    encode_accounts(&pairs.iter().map(|&(balance, counted)| Account { balance, counted }).collect::<Vec<_>>())
}

struct World {
    chain: Chain,
    judge: Address,
    escrow: Address,
    keys: Vec<SigningKey>,
    who: Vec<Address>,
    gas: Vec<(String, u64)>,
}

impl World {
    fn new() -> Self {
        let keys: Vec<SigningKey> =
            (0..3u8).map(|i| SigningKey::from_slice(keccak256([b'p', i]).as_slice()).unwrap()).collect();
        let who: Vec<Address> = keys.iter().map(|k| signer::address_of(k.verifying_key())).collect();
        let mut config = ChainConfig { chain_id: CHAIN_ID, ..Default::default() };
        config.funded.extend(who.iter().map(|a| (*a, ether(100))));
        config.funded.push((Address::repeat_byte(0xee), ether(100)));
        let mut chain = Chain::new(&config);
        let deploy = |chain: &mut Chain, name: &str| {
            let r = chain.send(DEV_ACCOUNT, TxKind::Create, stylus::init_code(&code(name)), U256::ZERO).unwrap();
            let at = r.contract_address.expect("deployed");
            let call = arbos::ArbWasm::activateProgramCall { program: at }.abi_encode();
            let a = chain.send(DEV_ACCOUNT, TxKind::Call(arbos::ARB_WASM), call, ether(1) / U256::from(10)).unwrap();
            assert!(a.is_success(), "{name} activates: {:?}", a.result);
            at
        };
        let judge = deploy(&mut chain, "judge");
        let escrow = deploy(&mut chain, "escrow");
        Self { chain, judge, escrow, keys, who, gas: Vec::new() }
    }

    fn params(&self, nonce: u64, executive: Address) -> ChannelParams {
        ChannelParams { participants: self.who.clone(), nonce, challengeDuration: 3600, executive }
    }

    fn domain(&self) -> Domain {
        Domain::new(CHAIN_ID, self.judge)
    }

    fn send(&mut self, step: &str, from: Address, to: Address, data: Vec<u8>, value: U256) -> Executed {
        let r = self.chain.send(from, TxKind::Call(to), data, value).unwrap();
        if r.is_success() && !self.gas.iter().any(|(s, _)| s == step) {
            self.gas.push((step.into(), r.l2_gas_used()));
        }
        r
    }

    fn deposit(&mut self, from: usize, params: &ChannelParams, amount: U256) -> Executed {
        let call = E::depositCall { judge: self.judge, params: EscrowParams::from(params) }.abi_encode();
        let (escrow, who) = (self.escrow, self.who[from]);
        self.send("deposit", who, escrow, call, amount)
    }

    fn settle(&mut self, params: &ChannelParams, data: &[u8]) -> Executed {
        let call =
            E::settleCall { judge: self.judge, params: params.into(), data: Bytes::copy_from_slice(data) }.abi_encode();
        let escrow = self.escrow;
        self.send("settle", Address::repeat_byte(0xee), escrow, call, U256::ZERO)
    }

    fn withdraw(&mut self, from: usize) -> Executed {
        let (escrow, who) = (self.escrow, self.who[from]);
        self.send("withdraw", who, escrow, E::withdrawCall {}.abi_encode(), U256::ZERO)
    }

    /// Signs `balances` as `version` of the channel by every participant and concludes it.
    fn conclude(&mut self, params: &ChannelParams, version: u64, data: &[u8]) {
        let id = self.domain().channel_id(params);
        let state = State { channelId: id, version, data: Bytes::copy_from_slice(data), isFinal: true };
        let digest = self.domain().state_digest(&state);
        let sigs: Vec<u8> = self.keys.iter().flat_map(|k| signer::sign(k, &digest).to_compact()).collect();
        let call = J::concludeCall { params: params.clone(), state, sigs: sigs.into() }.abi_encode();
        let (judge, who) = (self.judge, self.who[0]);
        let r = self.send("conclude (judge)", who, judge, call, U256::ZERO);
        assert!(r.is_success(), "conclude: {:?}", r.result);
    }

    fn view<C: SolCall>(&mut self, call: C) -> C::Return {
        let r = self.chain.view(Address::ZERO, self.escrow, call.abi_encode()).unwrap();
        C::abi_decode_returns(&r.output()).unwrap()
    }

    /// The escrow's balance and every participant's credit.
    fn books(&mut self) -> (U256, Vec<U256>) {
        let credits = self.who.clone().into_iter().map(|a| self.view(E::creditCall { account: a })).collect();
        (self.chain.balance(self.escrow), credits)
    }
}

fn refused<T: SolError>(r: &Executed) {
    assert!(!r.is_success(), "expected {} but it succeeded", T::SIGNATURE);
    let out = r.output();
    let got = E::IAvocadoEscrowErrors::abi_decode(&out).map(|e| format!("{e:?}"));
    assert_eq!(&out[..4], T::SELECTOR.as_slice(), "expected {}, got {got:?}", T::SIGNATURE);
}

#[test]
fn deposits_500_payments_close_settle_withdraw_conserve_every_wei() {
    let mut w = World::new();
    let escrow = w.escrow;
    let params = w.params(1, escrow);
    let id = w.domain().channel_id(&params);
    let deposits = [ether(3), ether(2), ether(1) / U256::from(2)];
    for (i, d) in deposits.iter().enumerate() {
        assert!(w.deposit(i, &params, *d).is_success());
    }
    let total: U256 = deposits.iter().copied().sum();
    assert_eq!(w.view(E::totalDepositsCall { channelId: id }), total);
    assert_eq!(w.chain.balance(escrow), total);

    // 500 payments off chain: each moves a pseudo-random amount the payer holds.
    let mut balances = deposits.to_vec();
    let mut seed = 0x1234_5678_u64;
    for _ in 0..500 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let (from, to) = ((seed >> 33) as usize % 3, (seed >> 40) as usize % 3);
        let amount = balances[from] / U256::from(7 + (seed % 13));
        balances[from] -= amount;
        balances[to] += amount;
    }
    assert_eq!(balances.iter().copied().sum::<U256>(), total, "payments move, never create");
    // Every deposit counted to its depositor; the balances moved.
    let pairs: Vec<(U256, U256)> = balances.iter().copied().zip(deposits).collect();
    let final_data = accounts(&pairs);
    // Before the judge says Final, nothing is paid.
    refused::<E::ChannelNotFinal>(&w.settle(&params, &final_data));
    w.conclude(&params, 501, &final_data);

    let before: Vec<U256> = w.who.clone().into_iter().map(|a| w.chain.balance(a)).collect();
    let r = w.settle(&params, &final_data);
    assert!(r.is_success(), "{:?}", r.result);
    let (held, credits) = w.books();
    assert_eq!(held, total);
    assert_eq!(credits, balances, "each participant is credited its final balance");
    for i in 0..3 {
        let r = w.withdraw(i);
        assert!(r.is_success(), "{:?}", r.result);
        let fee = U256::from(r.gas_used()) * U256::from(BASE_FEE);
        assert_eq!(w.chain.balance(w.who[i]) + fee, before[i] + balances[i], "participant {i}, to the wei");
    }
    assert_eq!(w.chain.balance(escrow), U256::ZERO, "everything deposited was paid out");
    // A second withdrawal, a second settlement, a deposit after the end: refused, nothing moves.
    let snapshot = w.books();
    refused::<E::NothingToWithdraw>(&w.withdraw(0));
    refused::<E::AlreadySettled>(&w.settle(&params, &final_data));
    refused::<E::ChannelIsFinal>(&w.deposit(1, &params, ether(1)));
    assert_eq!(w.books(), snapshot);
    for (step, gas) in &w.gas {
        eprintln!("{step:<20} {gas:>8} gas");
    }
}

#[test]
fn every_bad_settlement_or_deposit_is_refused_and_moves_nothing() {
    let mut w = World::new();
    let escrow = w.escrow;
    let params = w.params(7, escrow);
    let id = w.domain().channel_id(&params);
    assert!(w.deposit(0, &params, ether(1)).is_success());
    assert!(w.deposit(1, &params, ether(1)).is_success());
    // Deposits: only participants, something, to a channel naming this escrow.
    let stranger = w
        .chain
        .send(
            Address::repeat_byte(0xee),
            TxKind::Call(escrow),
            E::depositCall { judge: w.judge, params: (&params).into() }.abi_encode(),
            ether(1),
        )
        .unwrap();
    refused::<E::NotParticipant>(&stranger);
    refused::<E::ZeroDeposit>(&w.deposit(0, &params, U256::ZERO));
    let elsewhere = w.params(7, Address::repeat_byte(0x42));
    refused::<E::NotExecutive>(&w.deposit(0, &elsewhere, ether(1)));
    let snapshot = w.books();

    // Final state v2 pays 1.5 / 0.5 / 0; v1 was stale (2 / 0 / 0). Both count 1 + 1.
    let z = U256::ZERO;
    let stale = accounts(&[(ether(2), ether(1)), (z, ether(1)), (z, z)]);
    let fin = accounts(&[(ether(3) / U256::from(2), ether(1)), (ether(1) / U256::from(2), ether(1)), (z, z)]);
    w.conclude(&params, 2, &fin);
    refused::<E::DataMismatch>(&w.settle(&params, &stale));
    refused::<E::DataMismatch>(&w.settle(&params, b"not the final data"));
    refused::<E::NotExecutive>(&w.settle(&elsewhere, &fin));
    assert_eq!(w.books(), snapshot);
    assert!(!w.view(E::isSettledCall { channelId: id }));

    // Balances over the counts, counts over the deposits, and accounts that are not one per
    // participant.
    let greedy = w.params(8, escrow);
    assert!(w.deposit(2, &greedy, ether(1)).is_success());
    let over = accounts(&[(z, z), (z, z), (ether(1) + U256::from(1), ether(1))]);
    w.conclude(&greedy, 1, &over);
    let before = w.books();
    refused::<E::Unbalanced>(&w.settle(&greedy, &over));
    let inflated = w.params(11, escrow);
    assert!(w.deposit(2, &inflated, ether(1)).is_success());
    let counted_twice = accounts(&[(z, z), (z, z), (ether(2), ether(2))]);
    w.conclude(&inflated, 1, &counted_twice);
    refused::<E::CountExceedsDeposit>(&w.settle(&inflated, &counted_twice));
    assert_eq!(w.books().1, before.1, "no credit moved");
    let short = w.params(9, escrow);
    assert!(w.deposit(2, &short, ether(1)).is_success());
    let two = accounts(&[(z, z), (ether(1), ether(1))]);
    w.conclude(&short, 1, &two);
    let before_short = w.books();
    refused::<E::MalformedBalances>(&w.settle(&short, &two));
    assert_eq!(w.books(), before_short);
    assert_eq!(before.1, before_short.1, "no credit moved");

    // The good one settles; a deposit the state does not count goes back to its depositor.
    assert!(w.settle(&params, &fin).is_success());
    let (_, credits) = w.books();
    assert_eq!(credits, vec![ether(3) / U256::from(2), ether(1) / U256::from(2), U256::ZERO]);
    let partial = w.params(10, escrow);
    assert!(w.deposit(0, &partial, ether(2)).is_success());
    assert!(w.deposit(1, &partial, ether(1)).is_success());
    let less = accounts(&[(z, z), (ether(1), ether(1)), (z, z)]);
    w.conclude(&partial, 1, &less);
    assert!(w.settle(&partial, &less).is_success());
    let (_, after) = w.books();
    // Participant 0's 2 ETH were never counted: they come back to it.
    assert_eq!(after[0] - credits[0], ether(2));
    assert_eq!(after[1] - credits[1], ether(1));
}

/// The attack the accounting exists for: Alice's counted deposit is all spent (paid to Bob), then
/// Bob deposits 5 ETH that Alice refuses to count, and the latest state is settled. Bob's
/// uncounted deposit comes back to Bob, never to Alice, whose own deposit is spent.
#[test]
fn an_uncounted_deposit_goes_back_to_its_own_depositor() {
    let mut w = World::new();
    let escrow = w.escrow;
    let params = w.params(21, escrow);
    let z = U256::ZERO;
    assert!(w.deposit(0, &params, ether(3)).is_success());
    assert!(w.deposit(1, &params, ether(5)).is_success());
    // Latest state: Alice counted 3 and paid all 3 to Bob; Bob's 5 ETH not counted.
    let latest = accounts(&[(z, ether(3)), (ether(3), z), (z, z)]);
    w.conclude(&params, 4, &latest);
    assert!(w.settle(&params, &latest).is_success());
    let (held, credits) = w.books();
    assert_eq!(held, ether(8));
    assert_eq!(credits, vec![z, ether(8), z], "Bob: 3 paid + his own 5 back; Alice: nothing");
}

/// While a dispute runs no state can count a deposit, so the escrow takes none.
#[test]
fn deposits_are_refused_while_a_dispute_runs() {
    let mut w = World::new();
    let escrow = w.escrow;
    let params = w.params(31, escrow);
    assert!(w.deposit(0, &params, ether(1)).is_success());
    let id = w.domain().channel_id(&params);
    let z = U256::ZERO;
    let state = State {
        channelId: id,
        version: 1,
        data: accounts(&[(ether(1), ether(1)), (z, z), (z, z)]).into(),
        isFinal: false,
    };
    let digest = w.domain().state_digest(&state);
    let sigs: Vec<u8> = w.keys.iter().flat_map(|k| signer::sign(k, &digest).to_compact()).collect();
    let c = avocado_codec::Challenge { channelId: id, version: 1 };
    let challenger = signer::sign(&w.keys[1], &w.domain().challenge_digest(&c));
    let call = J::challengeCall {
        params: params.clone(),
        state,
        sigs: sigs.into(),
        challengerSig: challenger.to_compact().to_vec().into(),
    }
    .abi_encode();
    let (judge, who) = (w.judge, w.who[1]);
    assert!(w.send("challenge (judge)", who, judge, call, U256::ZERO).is_success());
    let before = w.books();
    refused::<E::ChannelInDispute>(&w.deposit(2, &params, ether(1)));
    assert_eq!(w.books(), before, "nothing moved");
    assert_eq!(w.view(E::depositedCall { channelId: id, participant: w.who[2] }), z);
}
