//! Reading the Solidity interface a Stylus contract exports (`--features export-abi`), to
//! compare it with the committed interface its bindings are generated from.

use std::collections::BTreeMap;

use alloy_json_abi::{Error, Function};

/// The functions (`signature → (outputs)`) and error signatures of an exported interface.
pub fn parse_exported(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
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
    errors.sort();
    (functions, errors)
}

/// Runs a contract's ABI exporter binary and returns what it prints.
pub fn export(exporter: &str) -> String {
    let out = std::process::Command::new(exporter).output().expect("run the ABI exporter");
    assert!(out.status.success(), "exporter failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `signature → (outputs)` of `sol!` call types, as [`parse_exported`] reports them.
#[macro_export]
macro_rules! sol_calls {
    ($($t:ty),* $(,)?) => {{
        let mut m = std::collections::BTreeMap::new();
        $( m.insert(
            <$t as alloy_sol_types::SolCall>::SIGNATURE.to_string(),
            <<$t as alloy_sol_types::SolCall>::ReturnTuple<'static> as alloy_sol_types::SolType>::SOL_NAME.to_string(),
        ); )*
        m
    }};
}

/// Sorted signatures of `sol!` error types.
#[macro_export]
macro_rules! sol_errors {
    ($($t:ty),* $(,)?) => {{
        let mut v = vec![$( <$t as alloy_sol_types::SolError>::SIGNATURE.to_string() ),*];
        v.sort();
        v
    }};
}
