//! The escrow's real ABI, as the SDK exports it from the contract, equals the committed Solidity
//! interface `codec/sol/IAvocadoEscrow.sol` (which generates the bindings the client uses):
//! same functions with the same inputs and outputs, same errors, nothing extra.
//! Runs with `--features export-abi` (the README's test command does).
#![cfg(feature = "export-abi")]

use alloy_sol_types::SolInterface;
use avocado_codec::payment::IAvocadoEscrow as E;
use avocado_tests::{abi, sol_calls, sol_errors};

#[test]
fn exported_abi_equals_committed_interface() {
    let (functions, errors) = abi::parse_exported(&abi::export(env!("CARGO_BIN_EXE_avocado-escrow")));
    let expected = sol_calls![
        E::depositCall,
        E::settleCall,
        E::withdrawCall,
        E::depositedCall,
        E::totalDepositsCall,
        E::isSettledCall,
        E::creditCall,
    ];
    assert_eq!(expected.len(), E::IAvocadoEscrowCalls::SELECTORS.len(), "list every call of the interface here");
    assert_eq!(functions, expected);
    let expected_errors = sol_errors![
        E::NotExecutive,
        E::NotParticipant,
        E::ZeroDeposit,
        E::ChannelIsFinal,
        E::ChannelInDispute,
        E::ChannelNotFinal,
        E::AlreadySettled,
        E::DataMismatch,
        E::MalformedBalances,
        E::Unbalanced,
        E::CountExceedsDeposit,
        E::NothingToWithdraw,
        E::TransferFailed,
    ];
    assert_eq!(expected_errors.len(), E::IAvocadoEscrowErrors::SELECTORS.len(), "list every error here");
    assert_eq!(errors, expected_errors);
}
