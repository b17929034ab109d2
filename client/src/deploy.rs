//! Deploying the judge: a creation transaction carrying the compressed WASM behind the usual
//! Stylus init-code prelude, then `ArbWasm.activateProgram` paying the data fee. The same two
//! transactions cargo-stylus sends, so it works on the embedded devnet, a nitro devnode and
//! Arbitrum Sepolia alike.

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{keccak256, Address, Bytes, U256};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use anyhow::{bail, Context, Result};
use stylus_deploy::{self as stylus, ArbWasm, ARB_WASM};

/// A deployed and activated program.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    /// Its address.
    pub address: Address,
    /// Deployable code size (prefix + brotli).
    pub code_bytes: usize,
    /// Gas of the creation transaction.
    pub deploy_gas: u64,
    /// Gas of the activation transaction (0 when this code was active already).
    pub activate_gas: u64,
    /// Data fee paid for activation (wei).
    pub data_fee: U256,
    /// Stylus version it was activated at.
    pub stylus_version: u16,
}

/// Deploys `code` (`EF F0 00` + brotli WASM, as `scripts/build-judge.sh` writes it) and activates it.
pub async fn deploy_program(rpc_url: &str, signer: PrivateKeySigner, code: &[u8]) -> Result<Deployed> {
    if !stylus::is_stylus(code) {
        bail!("this is not deployable Stylus code (it must start with EF F0 00: use the .bin the build writes)");
    }
    let from = signer.address();
    let url = rpc_url.parse().with_context(|| format!("bad RPC URL {rpc_url}"))?;
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url);
    let create = TransactionRequest::default().with_deploy_code(Bytes::from(stylus::init_code(code)));
    let receipt = provider
        .send_transaction(create)
        .await
        .with_context(|| format!("cannot send the deployment from {from} to {rpc_url}"))?
        .get_receipt()
        .await
        .context("the deployment was not mined")?;
    let address = match (receipt.status(), receipt.contract_address) {
        (true, Some(a)) => a,
        _ => bail!("the deployment transaction {} failed", receipt.transaction_hash),
    };
    // Activation is per code hash: the same program deployed before is active already.
    let codehash = keccak256(code);
    let known = TransactionRequest::default()
        .with_to(ARB_WASM)
        .with_input(ArbWasm::codehashVersionCall { codehash }.abi_encode());
    if let Ok(out) = provider.call(known).await {
        if let Ok(version) = ArbWasm::codehashVersionCall::abi_decode_returns(&out) {
            return Ok(Deployed {
                address,
                code_bytes: code.len(),
                deploy_gas: receipt.gas_used,
                activate_gas: 0,
                data_fee: U256::ZERO,
                stylus_version: version,
            });
        }
    }
    // Ask for the data fee with a generous value, then pay it with a margin (the rest is refunded).
    let balance = provider.get_balance(from).await?;
    let call = ArbWasm::activateProgramCall { program: address }.abi_encode();
    let probe = TransactionRequest::default()
        .with_from(from)
        .with_to(ARB_WASM)
        .with_input(call.clone())
        .with_value(balance / U256::from(2));
    let out = provider.call(probe).await.context("ArbWasm refused to activate the program")?;
    let fee = ArbWasm::activateProgramCall::abi_decode_returns(&out)?.dataFee;
    let value = fee + fee / U256::from(5);
    let activate = TransactionRequest::default().with_to(ARB_WASM).with_input(call).with_value(value);
    let act = provider
        .send_transaction(activate)
        .await
        .context("cannot send the activation")?
        .get_receipt()
        .await
        .context("the activation was not mined")?;
    if !act.status() {
        bail!("the activation transaction {} failed", act.transaction_hash);
    }
    let version = ArbWasm::activateProgramCall::abi_decode_returns(&out)?.version;
    Ok(Deployed {
        address,
        code_bytes: code.len(),
        deploy_gas: receipt.gas_used,
        activate_gas: act.gas_used,
        data_fee: fee,
        stylus_version: version,
    })
}
