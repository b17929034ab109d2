//! The judge's real ABI, as the SDK exports it from the contract, equals the committed Solidity
//! interface `codec/sol/IAvocadoJudge.sol` (which generates the bindings everyone else uses):
//! same functions with the same inputs and outputs, same errors, nothing extra.
//! Runs with `--features export-abi` (the README's test command does).
#![cfg(feature = "export-abi")]

use std::{collections::BTreeMap, process::Command};

use alloy_json_abi::{Error, Function};
use alloy_sol_types::{SolCall, SolError, SolInterface, SolType};
use avocado_codec::IAvocadoJudge as I;

fn exported() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_avocado-judge")).output().expect("run the ABI exporter");
    assert!(out.status.success(), "exporter failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

macro_rules! calls {
    ($($t:ty),* $(,)?) => {{
        let mut m = BTreeMap::new();
        $( m.insert(<$t as SolCall>::SIGNATURE.to_string(), <<$t as SolCall>::ReturnTuple<'static> as SolType>::SOL_NAME.to_string()); )*
        m
    }};
}

macro_rules! errors {
    ($($t:ty),* $(,)?) => {{ vec![$( <$t as SolError>::SIGNATURE.to_string() ),*] }};
}

#[test]
fn exported_abi_equals_committed_interface() {
    let text = exported();
    let mut functions = BTreeMap::new();
    let mut errors = Vec::new();
    // The exporter writes data locations inside tuples, which Solidity's grammar does not allow.
    let clean = |l: &str| l.replace(" memory", "").replace(" calldata", "").trim_end_matches(';').to_string();
    for line in text.lines().map(str::trim).map(clean) {
        let line = line.as_str();
        if line.starts_with("function ") {
            let f = Function::parse(line).unwrap_or_else(|e| panic!("parse {line}: {e}"));
            let outs: Vec<String> = f.outputs.iter().map(|p| p.selector_type().into_owned()).collect();
            functions.insert(f.signature(), format!("({})", outs.join(",")));
        } else if line.starts_with("error ") {
            errors.push(Error::parse(line).unwrap_or_else(|e| panic!("parse {line}: {e}")).signature());
        }
    }
    let expected = calls![
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

    let mut expected_errors = errors![
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
    expected_errors.sort();
    errors.sort();
    assert_eq!(errors, expected_errors);
}
