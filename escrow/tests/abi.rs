//! The escrow answers exactly the calls of the committed Solidity interface
//! (`codec/sol/IAvocadoEscrow.sol`, which generates the bindings the client uses), encodes each
//! error as that interface does, and prints the interface when built with `export-abi` (what
//! `cargo stylus export-abi` runs).

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolError;
use avocado_codec::payment::IAvocadoEscrow as E;
use avocado_escrow::EscrowError as X;

#[test]
fn router_answers_every_call_of_the_interface_and_nothing_else() {
    let mut ours = avocado_escrow::SELECTORS.to_vec();
    ours.sort();
    let mut theirs = E::IAvocadoEscrowCalls::SELECTORS.to_vec();
    theirs.sort();
    assert_eq!(ours, theirs);
}

#[test]
fn errors_encode_as_the_interface_says() {
    let (id, a, u) = (B256::repeat_byte(7), Address::repeat_byte(4), U256::from(5));
    let cases: Vec<(X, Vec<u8>)> = vec![
        (X::NotExecutive(a), E::NotExecutive { executive: a }.abi_encode()),
        (X::NotParticipant(a), E::NotParticipant { account: a }.abi_encode()),
        (X::ZeroDeposit, E::ZeroDeposit {}.abi_encode()),
        (X::ChannelIsFinal(id), E::ChannelIsFinal { channelId: id }.abi_encode()),
        (X::ChannelInDispute(id), E::ChannelInDispute { channelId: id }.abi_encode()),
        (X::ChannelNotFinal(id), E::ChannelNotFinal { channelId: id }.abi_encode()),
        (X::AlreadySettled(id), E::AlreadySettled { channelId: id }.abi_encode()),
        (
            X::DataMismatch { expected: id, given: B256::ZERO },
            E::DataMismatch { expected: id, given: B256::ZERO }.abi_encode(),
        ),
        (X::MalformedBalances, E::MalformedBalances {}.abi_encode()),
        (
            X::Unbalanced { balances: u, counted: U256::MAX },
            E::Unbalanced { balances: u, counted: U256::MAX }.abi_encode(),
        ),
        (
            X::CountExceedsDeposit { participant: a, counted: u, deposited: U256::from(1) },
            E::CountExceedsDeposit { participant: a, counted: u, deposited: U256::from(1) }.abi_encode(),
        ),
        (X::NothingToWithdraw, E::NothingToWithdraw {}.abi_encode()),
        (X::TransferFailed, E::TransferFailed {}.abi_encode()),
    ];
    assert_eq!(cases.len(), E::IAvocadoEscrowErrors::SELECTORS.len(), "one case per error of the interface");
    for (ours, theirs) in cases {
        assert_eq!(ours.encode(), theirs, "{ours:?}");
    }
    assert!(X::Malformed.encode().is_empty() && X::Unsupported.encode().is_empty());
}

#[cfg(feature = "export-abi")]
#[test]
fn export_abi_prints_the_committed_interface() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_avocado-escrow")).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), include_str!("../../codec/sol/IAvocadoEscrow.sol"));
}
