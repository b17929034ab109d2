//! Each test token's behaviour pinned on the devnet, twice: on the in-process chain and over
//! JSON-RPC (the devnet served over HTTP, or `AVOCADO_TEST_RPC_URL` with
//! `AVOCADO_TEST_PRIVATE_KEY`). The escrow's ERC-20 tests rely on these tokens misbehaving
//! exactly so: a token that quietly behaved well would let a careless escrow pass.

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use avocado_devnet::chain::{Chain, ChainConfig, DEV_ACCOUNT};
use avocado_tests::tokens::{
    fee, ChainTokens, ITestToken as T, ITestToken::ITestTokenErrors as E, RpcTokens, TestToken, TokenHarness, FEE_SINK,
};
use avocado_tests::{nodes::external_rpc, tokens};

/// `n` whole tokens in `token`'s decimals.
fn units(token: TestToken, n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(token.decimals()))
}

/// Each scenario on the in-process chain and over JSON-RPC.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_chain {
            $(
                #[tokio::test]
                async fn $name() {
                    let mut h = super::ChainTokens { chain: super::Chain::new(&super::ChainConfig::default()) };
                    super::$name(&mut h).await;
                }
            )*
        }
        mod over_rpc {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (mut h, devnet) = super::rpc_tokens().await;
                    super::$name(&mut h).await;
                    if let Some(d) = devnet {
                        d.stop().await;
                    }
                }
            )*
        }
    };
}

on_both!(
    metadata_and_mint,
    standard_returns_true_and_moves_exact_amounts,
    no_return_token_returns_empty_data,
    fee_token_delivers_less_than_named,
    blocking_token_reverts_to_and_from_blocked_accounts,
    false_token_returns_false_and_moves_nothing,
    allowances_decrease_and_the_maximum_stays_infinite,
);

/// The devnet served over HTTP in this process (or the external chain), with the devnet's
/// funded key.
async fn rpc_tokens() -> (RpcTokens, Option<avocado_devnet::rpc::DevnetHandle>) {
    match external_rpc() {
        Some(url) => {
            let key =
                std::env::var("AVOCADO_TEST_PRIVATE_KEY").unwrap_or_else(|_| avocado_devnet::cli::DEV_KEY.to_string());
            (RpcTokens::new(&url, key.parse::<PrivateKeySigner>().expect("AVOCADO_TEST_PRIVATE_KEY")), None)
        }
        None => {
            let devnet = avocado_devnet::rpc::start(ChainConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .expect("the devnet starts");
            let key: PrivateKeySigner = avocado_devnet::cli::DEV_KEY.parse().unwrap();
            assert_eq!(key.address(), DEV_ACCOUNT);
            (RpcTokens::new(&devnet.url(), key), Some(devnet))
        }
    }
}

/// Every token: its constructor's name, symbol and decimals, no supply until `mint`, which
/// anyone may call and which emits `Transfer` from the zero address.
async fn metadata_and_mint(h: &mut impl TokenHarness) {
    let alice = h.account("metadata alice").await;
    for token in TestToken::ALL {
        let at = h.deploy(token).await;
        assert_eq!(h.view(at, T::symbolCall {}).await, token.symbol());
        assert_eq!(h.view(at, T::decimalsCall {}).await, token.decimals());
        assert!(h.view(at, T::nameCall {}).await.ends_with("Token"));
        assert_eq!(h.view(at, T::totalSupplyCall {}).await, U256::ZERO);
        // Minted by a plain account, not the deployer: mint is open.
        let amount = units(token, 1_000);
        let out = h.send(alice, at, T::mintCall { to: alice, amount }.abi_encode()).await;
        assert!(out.is_success(), "{token:?}: {:?}", out.result);
        assert_eq!(out.transfers(), vec![(at, Address::ZERO, alice, amount)], "{token:?}");
        assert_eq!(h.balance_of(at, alice).await, amount);
        assert_eq!(h.view(at, T::totalSupplyCall {}).await, amount);
    }
}

/// The standard token returns `true` and moves exactly the amount named; a short balance or
/// allowance reverts with its typed error and changes nothing.
async fn standard_returns_true_and_moves_exact_amounts(h: &mut impl TokenHarness) {
    let t = TestToken::Standard;
    let at = h.deploy(t).await;
    let (alice, bob, spender) =
        (h.account("std alice").await, h.account("std bob").await, h.account("std spender").await);
    h.mint(at, alice, units(t, 1_000)).await;

    let out = h.transfer(at, alice, bob, units(t, 250)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(out.transfers(), vec![(at, alice, bob, units(t, 250))]);
    assert_eq!(h.balance_of(at, alice).await, units(t, 750));
    assert_eq!(h.balance_of(at, bob).await, units(t, 250));

    // 750 tokens held, 750 tokens and one unit asked.
    let out = h.transfer(at, alice, bob, units(t, 750) + U256::from(1)).await;
    assert_eq!(
        out.error(),
        E::InsufficientBalance(T::InsufficientBalance {
            account: alice,
            balance: units(t, 750),
            needed: units(t, 750) + U256::from(1)
        })
    );
    assert_eq!(h.balance_of(at, alice).await, units(t, 750));
    assert_eq!(h.balance_of(at, bob).await, units(t, 250));

    let out = h.approve(at, alice, spender, units(t, 300)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    let out = h.transfer_from(at, spender, alice, bob, units(t, 100)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(out.transfers(), vec![(at, alice, bob, units(t, 100))]);
    assert_eq!(h.balance_of(at, alice).await, units(t, 650));
    assert_eq!(h.balance_of(at, bob).await, units(t, 350));
    assert_eq!(h.balance_of(at, spender).await, U256::ZERO);

    // 200 left in the allowance, 201 asked: refused though the balance (650) would do.
    let out = h.transfer_from(at, spender, alice, bob, units(t, 201)).await;
    assert_eq!(
        out.error(),
        E::InsufficientAllowance(T::InsufficientAllowance { spender, allowance: units(t, 200), needed: units(t, 201) })
    );
    assert_eq!(h.allowance(at, alice, spender).await, units(t, 200));
    assert_eq!(h.balance_of(at, alice).await, units(t, 650));
}

/// The no-return token succeeds with empty return data (a caller decoding `bool` fails on it),
/// moves exact amounts, and still reverts on a short balance or allowance.
async fn no_return_token_returns_empty_data(h: &mut impl TokenHarness) {
    let t = TestToken::NoReturn;
    let at = h.deploy(t).await;
    let (alice, bob, spender) =
        (h.account("nrt alice").await, h.account("nrt bob").await, h.account("nrt spender").await);
    h.mint(at, alice, units(t, 100)).await;

    let out = h.transfer(at, alice, bob, units(t, 40)).await;
    assert!(out.returned().is_empty());
    assert!(out.returned_bool().is_err(), "a standard caller cannot decode nothing as a bool");
    assert_eq!(out.transfers(), vec![(at, alice, bob, units(t, 40))]);
    assert_eq!(h.balance_of(at, alice).await, units(t, 60));
    assert_eq!(h.balance_of(at, bob).await, units(t, 40));

    let out = h.approve(at, alice, spender, units(t, 50)).await;
    assert!(out.returned().is_empty());
    assert_eq!(h.allowance(at, alice, spender).await, units(t, 50));
    let out = h.transfer_from(at, spender, alice, bob, units(t, 20)).await;
    assert!(out.returned().is_empty());
    assert!(out.returned_bool().is_err());
    assert_eq!(h.balance_of(at, alice).await, units(t, 40));
    assert_eq!(h.balance_of(at, bob).await, units(t, 60));
    assert_eq!(h.allowance(at, alice, spender).await, units(t, 30));

    // Failures revert all the same (what lets SafeERC20 accept empty data as success).
    let out = h.transfer(at, alice, bob, units(t, 41)).await;
    assert_eq!(
        out.error(),
        E::InsufficientBalance(T::InsufficientBalance { account: alice, balance: units(t, 40), needed: units(t, 41) })
    );
    let out = h.transfer_from(at, spender, alice, bob, units(t, 31)).await;
    assert_eq!(
        out.error(),
        E::InsufficientAllowance(T::InsufficientAllowance { spender, allowance: units(t, 30), needed: units(t, 31) })
    );
    assert_eq!(h.balance_of(at, alice).await, units(t, 40));
    assert_eq!(h.balance_of(at, bob).await, units(t, 60));
}

/// The fee token delivers the amount named less 1 % (rounded down) and gives the 1 % to its
/// sink; the sender pays, and the allowance drops by, the whole amount named. A contract that
/// credited the amount it asked `transferFrom` for would over-credit by the fee.
async fn fee_token_delivers_less_than_named(h: &mut impl TokenHarness) {
    let t = TestToken::Fee;
    let at = h.deploy(t).await;
    assert_eq!(h.view(at, T::FEE_SINKCall {}).await, FEE_SINK);
    let (alice, bob, escrow) =
        (h.account("fee alice").await, h.account("fee bob").await, h.account("fee escrow").await);
    h.mint(at, alice, units(t, 1_000)).await;

    // 100 tokens: 1 to the sink, 99 to bob.
    let out = h.transfer(at, alice, bob, units(t, 100)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(out.transfers(), vec![(at, alice, bob, units(t, 99)), (at, alice, FEE_SINK, units(t, 1))]);
    assert_eq!(h.balance_of(at, alice).await, units(t, 900));
    assert_eq!(h.balance_of(at, bob).await, units(t, 99));
    assert_eq!(h.balance_of(at, FEE_SINK).await, units(t, 1));

    // A deposit as an escrow pulls it: 12,345 base units named, fee 123 (12,345 / 100 rounded
    // down), 12,222 arrive.
    h.approve(at, alice, escrow, units(t, 500)).await;
    let named = U256::from(12_345u64);
    assert_eq!(fee(named), U256::from(123u64));
    let before = h.balance_of(at, escrow).await;
    let out = h.transfer_from(at, escrow, alice, escrow, named).await;
    assert_eq!(out.returned_bool(), Ok(true));
    let arrived = h.balance_of(at, escrow).await - before;
    assert_eq!(arrived, U256::from(12_222u64));
    assert!(arrived < named, "the amount named over-credits");
    assert_eq!(h.allowance(at, alice, escrow).await, units(t, 500) - named);
    assert_eq!(h.balance_of(at, alice).await, units(t, 900) - named);
    assert_eq!(h.balance_of(at, FEE_SINK).await, units(t, 1) + U256::from(123u64));

    // Under 100 base units the fee rounds to nothing: 99 named, 99 arrive.
    let out = h.transfer(at, alice, bob, U256::from(99u64)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(h.balance_of(at, bob).await, units(t, 99) + U256::from(99u64));

    // Supply is conserved: everything minted is somewhere.
    let total = h.balance_of(at, alice).await
        + h.balance_of(at, bob).await
        + h.balance_of(at, escrow).await
        + h.balance_of(at, FEE_SINK).await;
    assert_eq!(total, units(t, 1_000));
    assert_eq!(h.view(at, T::totalSupplyCall {}).await, units(t, 1_000));
}

/// The blocking token reverts with `Blocked(account)` on a transfer from or to a blocked
/// account, or a `transferFrom` by a blocked spender, and moves nothing; unblocked, it behaves.
async fn blocking_token_reverts_to_and_from_blocked_accounts(h: &mut impl TokenHarness) {
    let t = TestToken::Blocking;
    let at = h.deploy(t).await;
    let (alice, bob, escrow) =
        (h.account("blk alice").await, h.account("blk bob").await, h.account("blk escrow").await);
    h.mint(at, alice, units(t, 100)).await;
    h.mint(at, bob, units(t, 100)).await;
    h.approve(at, alice, escrow, units(t, 100)).await;
    h.approve(at, bob, escrow, units(t, 100)).await;

    h.set_blocked(at, bob, true).await;
    assert!(h.view(at, T::blockedCall { account: bob }).await);
    let blocked = |who| E::Blocked(T::Blocked { account: who });
    // To a blocked account, from a blocked account, either way.
    assert_eq!(h.transfer(at, alice, bob, units(t, 1)).await.error(), blocked(bob));
    assert_eq!(h.transfer(at, bob, alice, units(t, 1)).await.error(), blocked(bob));
    assert_eq!(h.transfer_from(at, escrow, alice, bob, units(t, 1)).await.error(), blocked(bob));
    assert_eq!(h.transfer_from(at, escrow, bob, escrow, units(t, 1)).await.error(), blocked(bob));
    assert_eq!(h.balance_of(at, alice).await, units(t, 100));
    assert_eq!(h.balance_of(at, bob).await, units(t, 100));
    assert_eq!(h.allowance(at, bob, escrow).await, units(t, 100));
    // Another pair is not affected.
    let out = h.transfer_from(at, escrow, alice, escrow, units(t, 10)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(h.balance_of(at, escrow).await, units(t, 10));

    // A blocked spender (the escrow itself) can move nobody's tokens, nor send its own.
    h.set_blocked(at, escrow, true).await;
    assert_eq!(h.transfer_from(at, escrow, alice, alice, units(t, 1)).await.error(), blocked(escrow));
    assert_eq!(h.transfer(at, escrow, alice, units(t, 1)).await.error(), blocked(escrow));
    assert_eq!(h.allowance(at, alice, escrow).await, units(t, 90));

    h.set_blocked(at, bob, false).await;
    h.set_blocked(at, escrow, false).await;
    assert_eq!(h.transfer(at, alice, bob, units(t, 5)).await.returned_bool(), Ok(true));
    assert_eq!(h.transfer(at, escrow, bob, units(t, 10)).await.returned_bool(), Ok(true));
    assert_eq!(h.balance_of(at, alice).await, units(t, 85));
    assert_eq!(h.balance_of(at, bob).await, units(t, 115));
    assert_eq!(h.balance_of(at, escrow).await, U256::ZERO);
}

/// The false token answers a short balance or allowance with a successful `false` (no revert,
/// no event) and moves nothing; otherwise it returns `true` and moves the amount.
async fn false_token_returns_false_and_moves_nothing(h: &mut impl TokenHarness) {
    let t = TestToken::False;
    let at = h.deploy(t).await;
    let (alice, bob, escrow) =
        (h.account("fls alice").await, h.account("fls bob").await, h.account("fls escrow").await);
    h.mint(at, alice, units(t, 10)).await;

    let out = h.transfer(at, alice, bob, units(t, 11)).await;
    assert!(out.is_success(), "no revert");
    assert_eq!(out.returned_bool(), Ok(false));
    assert!(out.transfers().is_empty());
    assert_eq!(h.balance_of(at, alice).await, units(t, 10));
    assert_eq!(h.balance_of(at, bob).await, U256::ZERO);

    // A short allowance (5 for 6), then a short balance (11 for an allowance of 20).
    h.approve(at, alice, escrow, units(t, 5)).await;
    let out = h.transfer_from(at, escrow, alice, escrow, units(t, 6)).await;
    assert_eq!(out.returned_bool(), Ok(false));
    assert!(out.transfers().is_empty());
    assert_eq!(h.allowance(at, alice, escrow).await, units(t, 5));
    h.approve(at, alice, escrow, units(t, 20)).await;
    let out = h.transfer_from(at, escrow, alice, escrow, units(t, 11)).await;
    assert_eq!(out.returned_bool(), Ok(false));
    assert_eq!(h.allowance(at, alice, escrow).await, units(t, 20));
    assert_eq!(h.balance_of(at, alice).await, units(t, 10));
    assert_eq!(h.balance_of(at, escrow).await, U256::ZERO);

    let out = h.transfer_from(at, escrow, alice, escrow, units(t, 10)).await;
    assert_eq!(out.returned_bool(), Ok(true));
    assert_eq!(out.transfers(), vec![(at, alice, escrow, units(t, 10))]);
    assert_eq!(h.allowance(at, alice, escrow).await, units(t, 10));
    assert_eq!(h.balance_of(at, alice).await, U256::ZERO);
    assert_eq!(h.balance_of(at, escrow).await, units(t, 10));
}

/// Every token: `transferFrom` lowers the allowance by the amount named; an allowance of
/// `type(uint256).max` is infinite and never lowered; `approve` overwrites and emits `Approval`.
async fn allowances_decrease_and_the_maximum_stays_infinite(h: &mut impl TokenHarness) {
    let (alice, bob, escrow) =
        (h.account("alw alice").await, h.account("alw bob").await, h.account("alw escrow").await);
    for t in TestToken::ALL {
        let at = h.deploy(t).await;
        h.mint(at, alice, units(t, 1_000)).await;
        let out = h.approve(at, alice, escrow, units(t, 300)).await;
        assert!(out.is_success());
        assert_eq!(out.logs.len(), 1, "{t:?}: one Approval");
        assert_eq!(h.allowance(at, alice, escrow).await, units(t, 300));
        assert!(h.transfer_from(at, escrow, alice, bob, units(t, 120)).await.is_success());
        assert_eq!(h.allowance(at, alice, escrow).await, units(t, 180), "{t:?}");
        assert!(h.transfer_from(at, escrow, alice, bob, units(t, 180)).await.is_success());
        assert_eq!(h.allowance(at, alice, escrow).await, U256::ZERO, "{t:?}");

        h.approve(at, alice, escrow, U256::MAX).await;
        assert!(h.transfer_from(at, escrow, alice, bob, units(t, 400)).await.is_success());
        assert!(h.transfer_from(at, escrow, alice, bob, units(t, 300)).await.is_success());
        assert_eq!(h.allowance(at, alice, escrow).await, U256::MAX, "{t:?}: the maximum stays infinite");
        assert_eq!(h.balance_of(at, alice).await, U256::ZERO, "{t:?}");
        let received = if t == TestToken::Fee { units(t, 1_000) - fee(units(t, 1_000)) } else { units(t, 1_000) };
        assert_eq!(h.balance_of(at, bob).await, received, "{t:?}");

        // Approving anew overwrites, down to zero.
        h.approve(at, alice, escrow, U256::ZERO).await;
        assert_eq!(h.allowance(at, alice, escrow).await, U256::ZERO, "{t:?}");
    }
}

/// The synchronous helpers for tests that own a chain: deploy, mint, balance, approve.
#[test]
fn synchronous_helpers_on_a_chain() {
    let mut chain = Chain::new(&ChainConfig::default());
    let owner = Address::repeat_byte(0xa1);
    chain.set_balance(owner, U256::from(10u64).pow(U256::from(18u64)));
    let at = tokens::deploy_on(&mut chain, TestToken::NoReturn);
    assert!(!chain.code(at).is_empty());
    tokens::mint_on(&mut chain, at, owner, U256::from(7u64));
    assert_eq!(tokens::balance_on(&mut chain, at, owner), U256::from(7u64));
    let r = tokens::approve_on(&mut chain, at, owner, DEV_ACCOUNT, U256::from(5u64));
    assert!(r.is_success());
    assert!(r.output().is_empty(), "NoReturnToken's approve returns nothing");
}
