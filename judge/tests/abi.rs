//! The judge's real ABI, as the SDK exports it from the contract, equals the committed Solidity
//! interface `codec/sol/IAvocadoJudge.sol` (which generates the bindings everyone else uses):
//! same functions with the same inputs and outputs, same errors, nothing extra.
//! Runs with `--features export-abi` (the README's test command does).
#![cfg(feature = "export-abi")]

use alloy_sol_types::SolInterface;
use avocado_codec::IAvocadoJudge as I;
use avocado_tests::{abi, sol_calls, sol_errors};

#[test]
fn exported_abi_equals_committed_interface() {
    let (functions, errors) = abi::parse_exported(&abi::export(env!("CARGO_BIN_EXE_avocado-judge")));
    let expected = sol_calls![
        I::openCall,
        I::checkpointCall,
        I::challengeCall,
        I::concludeCall,
        I::statusCall,
        I::finalStateCall,
        I::channelIdCall,
        I::domainSeparatorCall,
    ];
    assert_eq!(expected.len(), I::IAvocadoJudgeCalls::SELECTORS.len(), "list every call of the interface here");
    assert_eq!(functions, expected);
    let expected_errors = sol_errors![
        I::InvalidParticipantCount,
        I::InvalidParticipant,
        I::InvalidChallengeDuration,
        I::WrongChannel,
        I::StateTooLarge,
        I::InvalidSignaturesLength,
        I::InvalidSignature,
        I::InvalidChallengerSignature,
        I::NotParticipant,
        I::StaleVersion,
        I::ChannelExists,
        I::ChannelFinal,
        I::ChallengeInProgress,
        I::NotFinalState,
        I::ChannelNotFinal,
    ];
    assert_eq!(expected_errors.len(), I::IAvocadoJudgeErrors::SELECTORS.len(), "list every error here");
    assert_eq!(errors, expected_errors);
}
