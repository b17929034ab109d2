//! The escrow's real ABI, as the SDK exports it from the contract, equals the committed Solidity
//! interface `codec/sol/IAvocadoEscrow.sol` (which generates the bindings the client uses):
//! same functions with the same inputs and outputs, same errors, nothing extra.
//! Runs with `--features export-abi` (the README's test command does).
#![cfg(feature = "export-abi")]

use std::{collections::BTreeMap, process::Command};

use alloy_json_abi::{Error, Function};
use alloy_sol_types::{SolCall, SolError, SolInterface, SolType};
use avocado_codec::payment::IAvocadoEscrow as E;

fn exported() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_avocado-escrow")).output().expect("run the ABI exporter");
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

#[test]
fn exported_abi_equals_committed_interface() {
    let text = exported();
    let mut functions = BTreeMap::new();
    let mut errors = Vec::new();
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
    let mut expected_errors: Vec<String> = vec![
        E::NotExecutive::SIGNATURE,
        E::NotParticipant::SIGNATURE,
        E::ZeroDeposit::SIGNATURE,
        E::ChannelIsFinal::SIGNATURE,
        E::ChannelNotFinal::SIGNATURE,
        E::AlreadySettled::SIGNATURE,
        E::DataMismatch::SIGNATURE,
        E::MalformedBalances::SIGNATURE,
        E::BalancesExceedDeposits::SIGNATURE,
        E::NothingToWithdraw::SIGNATURE,
        E::TransferFailed::SIGNATURE,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(expected_errors.len(), E::IAvocadoEscrowErrors::SELECTORS.len(), "list every error here");
    expected_errors.sort();
    errors.sort();
    assert_eq!(errors, expected_errors);
}
