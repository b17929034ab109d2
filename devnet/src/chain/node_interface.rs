//! NodeInterface, the virtual contract at `0xc8` that Arbitrum nodes answer on `eth_call`.
//!
//! It has no code on chain: a node intercepts calls to it and answers from its own state
//! (`execution/nodeinterface/node_interface.go`). A wallet or an alloy user asks it how much of a
//! transaction's gas pays for L1 data before sending it. Two methods are answered here, as Nitro
//! answers them:
//!
//! - `gasEstimateL1Component(to, contractCreation, data)`: the L1 gas of a transaction from the
//!   caller with the call's value and `data`, priced from its stand-in (see [`l1_pricing`]) with
//!   the call's fees and nonce and a placeholder gas limit, padded by 10 %
//!   (`GasEstimationL1PricePadding`), at the base fee; with the base fee and the L1 price per
//!   unit.
//! - `gasEstimateComponents(to, contractCreation, data)`: `eth_estimateGas` of that transaction
//!   (L1 included), its L1 part as a gas estimate prices it, the base fee and the L1 price.
//!
//! Other selectors are refused; so is estimating a call to the virtual contracts themselves.

use alloy_primitives::{address, Address, Bytes, U256};
use alloy_sol_types::{sol, SolCall};
use revm::context::TxEnv;

use super::{l1_pricing, Chain, TxError, BASE_FEE};

/// NodeInterface's address.
pub const NODE_INTERFACE: Address = address!("00000000000000000000000000000000000000c8");
/// NodeInterfaceDebug's address (not answered; named for the estimate refusal).
pub const NODE_INTERFACE_DEBUG: Address = address!("00000000000000000000000000000000000000c9");

sol! {
    /// The part of Nitro's `NodeInterface.sol` answered here.
    interface NodeInterface {
        /// Gas of the L1 part of a transaction, the base fee and the L1 price per unit.
        function gasEstimateL1Component(address to, bool contractCreation, bytes calldata data)
            external payable returns (uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate);
        /// A transaction's gas estimate, its L1 part, the base fee and the L1 price per unit.
        function gasEstimateComponents(address to, bool contractCreation, bytes calldata data)
            external payable returns (
                uint64 gasEstimate, uint64 gasEstimateForL1, uint256 baseFee, uint256 l1BaseFeeEstimate
            );
    }
}

/// Why NodeInterface cannot answer a call.
#[derive(Debug, thiserror::Error)]
pub enum NodeInterfaceError {
    /// The selector is not one of the methods answered here, or the arguments do not decode.
    #[error("NodeInterface: {0}")]
    BadCall(String),
    /// `gasEstimateComponents` of a call to a virtual contract.
    #[error("cannot estimate virtual contract")]
    VirtualContract,
    /// The estimated transaction reverts, with its revert data.
    #[error("execution reverted")]
    Reverted(Bytes),
    /// The estimated transaction cannot run at all.
    #[error("{0}")]
    Estimate(String),
}

/// A call to NodeInterface: the message it arrives in.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// `from` of the call.
    pub from: Address,
    /// Nonce of the call (0 when not given).
    pub nonce: u64,
    /// Gas limit of the call (0 when not given).
    pub gas: u64,
    /// Fee cap of the call (0 when not given).
    pub max_fee_per_gas: u128,
    /// Priority fee of the call (0 when not given).
    pub max_priority_fee_per_gas: u128,
    /// Value sent with the call: the estimated transaction's value.
    pub value: U256,
    /// Calldata.
    pub input: Bytes,
}

/// The outcome of `eth_estimateGas` on a chain.
#[derive(Debug)]
pub enum Estimate {
    /// The smallest gas limit that succeeds.
    Gas(u64),
    /// The transaction reverts at the cap, with this data.
    Reverted(Bytes),
    /// The transaction halts at the cap, or cannot run.
    Failed(String),
}

/// `eth_estimateGas` as Nitro's: the smallest gas limit (binary search) with which `tx` succeeds,
/// L1 included — its stand-in priced as a gas estimate, constant over the search — the cap
/// being `cap` of L2 gas on top of the L1 gas.
pub fn estimate_gas(chain: &mut Chain, tx: TxEnv, msg: &l1_pricing::Message, cap: u64) -> Estimate {
    let poster_gas = chain.stand_in_poster_gas(msg, true);
    let cap = cap.saturating_add(poster_gas);
    let run = |chain: &mut Chain, gas: u64| {
        let mut t = tx.clone();
        t.gas_limit = gas;
        chain.call_with_poster_gas(t, poster_gas)
    };
    let first = match run(chain, cap) {
        Ok(r) => r,
        Err(TxError::Invalid(e)) => return Estimate::Failed(e),
    };
    match first.result {
        revm::context_interface::result::ExecutionResult::Success { .. } => {}
        revm::context_interface::result::ExecutionResult::Revert { output, .. } => return Estimate::Reverted(output),
        revm::context_interface::result::ExecutionResult::Halt { reason, .. } => {
            return Estimate::Failed(format!("gas required exceeds allowance ({cap}): {reason:?}"))
        }
    }
    let (mut lo, mut hi) = (first.gas_used().saturating_sub(1), cap);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if run(chain, mid).map(|r| r.is_success()).unwrap_or(false) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Estimate::Gas(hi)
}

/// The L1-relevant message NodeInterface builds from the call and its arguments
/// (`messageArgs`): the caller's nonce, fees and gas, the call's value, the arguments' recipient
/// and data, no access list.
fn message(call: &Call, to: Address, creation: bool, data: Bytes, gas: u64) -> l1_pricing::Message {
    l1_pricing::Message {
        nonce: call.nonce,
        max_priority_fee_per_gas: call.max_priority_fee_per_gas,
        max_fee_per_gas: call.max_fee_per_gas,
        gas,
        to: (!creation).then_some(to),
        value: call.value,
        data,
        access_list: Default::default(),
    }
}

/// Answers a call to NodeInterface against `chain`; `cap` is the L2 gas cap of estimates.
///
/// # Errors
///
/// [`NodeInterfaceError`]: an unknown selector or undecodable arguments, an estimate of a
/// virtual contract, or an estimated transaction that reverts or cannot run.
pub fn answer(chain: &mut Chain, call: &Call, cap: u64) -> Result<Bytes, NodeInterfaceError> {
    let selector: [u8; 4] = call
        .input
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| NodeInterfaceError::BadCall("no selector".into()))?;
    let base_fee = U256::from(BASE_FEE);
    let price = chain.l1_base_fee;
    let bad = |e: alloy_sol_types::Error| NodeInterfaceError::BadCall(e.to_string());
    match selector {
        NodeInterface::gasEstimateL1ComponentCall::SELECTOR => {
            let args = NodeInterface::gasEstimateL1ComponentCall::abi_decode(&call.input).map_err(bad)?;
            let msg = message(call, args.to, args.contractCreation, args.data, l1_pricing::random_gas());
            let units = l1_pricing::padded_units(l1_pricing::units(&msg.stand_in(false)));
            let fee = l1_pricing::poster_cost(units, price)
                * U256::from(l1_pricing::GAS_ESTIMATION_L1_PRICE_PADDING_BIPS)
                / U256::from(10_000u64);
            let gas = l1_pricing::poster_gas(fee, base_fee);
            Ok(NodeInterface::gasEstimateL1ComponentCall::abi_encode_returns_tuple(&(gas, base_fee, price)).into())
        }
        NodeInterface::gasEstimateComponentsCall::SELECTOR => {
            let args = NodeInterface::gasEstimateComponentsCall::abi_decode(&call.input).map_err(bad)?;
            if args.to == NODE_INTERFACE || args.to == NODE_INTERFACE_DEBUG {
                return Err(NodeInterfaceError::VirtualContract);
            }
            let msg = message(call, args.to, args.contractCreation, args.data.clone(), call.gas);
            let tx = TxEnv::builder()
                .caller(call.from)
                .nonce(chain.nonce(call.from))
                .kind(match msg.to {
                    Some(to) => revm::primitives::TxKind::Call(to),
                    None => revm::primitives::TxKind::Create,
                })
                .data(args.data)
                .value(call.value)
                .gas_limit(cap)
                .gas_price(call.max_fee_per_gas)
                .chain_id(Some(chain.chain_id))
                .build_fill();
            let total = match estimate_gas(chain, tx, &msg, cap) {
                Estimate::Gas(g) => g,
                Estimate::Reverted(data) => return Err(NodeInterfaceError::Reverted(data)),
                Estimate::Failed(e) => return Err(NodeInterfaceError::Estimate(e)),
            };
            let l1 = chain.stand_in_poster_gas(&msg, true);
            Ok(NodeInterface::gasEstimateComponentsCall::abi_encode_returns_tuple(&(total, l1, base_fee, price)).into())
        }
        _ => Err(NodeInterfaceError::BadCall(format!("unknown method 0x{}", alloy_primitives::hex::encode(selector)))),
    }
}
