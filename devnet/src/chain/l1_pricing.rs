//! What a transaction costs on L1, in L2 gas, as Nitro prices it.
//!
//! An Arbitrum user pays for the L1 data that posts their transaction. Nitro estimates that data
//! as the transaction's signed bytes compressed with brotli (`L1PricingState.getPosterUnitsWithoutCache`
//! in `arbos/l1pricing/l1pricing.go`, at the chain's brotli level: 1 since ArbOS 20, window 22,
//! `arbcompress`), 16 units per compressed byte (`TxDataNonZeroGasEIP2028`), each unit priced at
//! the L1 price per unit (50 gwei on a new chain, `arbostypes.DefaultInitialL1BaseFee`). The
//! poster cost in wei is turned into gas at the block's base fee and charged before the EVM
//! starts (`TxProcessor.GasChargingHook` and `GetPosterGas` in `arbos/tx_processor.go`): it is
//! part of the receipt's `gasUsed`, reported alone as `gasUsedForL1`, never refunded
//! (`NonrefundableGas`), and a transaction whose gas limit cannot pay it is refused as
//! "intrinsic gas too low".
//!
//! Without a signed transaction (`eth_call`, `eth_estimateGas`, NodeInterface) Nitro prices a
//! stand-in: a dynamic-fee transaction of the message's fields with placeholder signature values
//! (`makeFakeTxForMessage`), padded by 16 bytes' units and 1 % (`PosterDataCost`). Gas estimation
//! also pads the cost by 10 % and prices it at 7/8 of the base fee, no lower than the minimum
//! (`GetPosterGas` with `GasEstimationL1PricePadding`).

use std::io::Write;

use alloy_eips::eip2930::AccessList;
use alloy_primitives::{address, keccak256, Address, Bytes, U256};
use alloy_rlp::{Encodable, Header};

/// The batch poster's address: the poster of every sequenced transaction, and the block's
/// coinbase (`l1pricing.BatchPosterAddress`).
pub const BATCH_POSTER: Address = address!("a4b000000000000000000073657175656e636572");
/// The L1 price per unit a new Nitro chain starts with: 50 gwei (`DefaultInitialL1BaseFee`).
pub const DEFAULT_L1_BASE_FEE: u128 = 50_000_000_000;
/// Brotli quality of the poster cost (ArbOS ≥ 20).
pub const BROTLI_LEVEL: u32 = 1;
/// Brotli window, log2 (`arbcompress.WINDOW_SIZE`).
pub const BROTLI_WINDOW: u32 = 22;
/// Units per compressed byte.
pub const UNITS_PER_BYTE: u64 = 16;
/// Units added to an estimate for the bytes a real transaction may have beyond the stand-in.
pub const ESTIMATION_PADDING_UNITS: u64 = 16 * UNITS_PER_BYTE;
/// Basis points added to an estimate's units.
pub const ESTIMATION_PADDING_BIPS: u64 = 100;
/// Basis points of the poster cost a gas estimate uses (`GasEstimationL1PricePadding`).
pub const GAS_ESTIMATION_L1_PRICE_PADDING_BIPS: u64 = 11_000;
const ONE_IN_BIPS: u64 = 10_000;

/// Bytes after brotli at Nitro's poster-cost settings.
pub fn compressed_len(bytes: &[u8]) -> u64 {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_LEVEL, BROTLI_WINDOW);
        // Writing to a Vec cannot fail.
        let _ = w.write_all(bytes);
    }
    out.len() as u64
}

/// L1 units of a signed transaction's bytes.
pub fn units(tx_bytes: &[u8]) -> u64 {
    UNITS_PER_BYTE.saturating_mul(compressed_len(tx_bytes))
}

/// Units of a stand-in transaction, padded as `PosterDataCost` pads them.
pub fn padded_units(units: u64) -> u64 {
    units.saturating_add(ESTIMATION_PADDING_UNITS).saturating_mul(ONE_IN_BIPS + ESTIMATION_PADDING_BIPS) / ONE_IN_BIPS
}

/// The poster cost in wei of `units` at `price_per_unit`.
pub fn poster_cost(units: u64, price_per_unit: U256) -> U256 {
    price_per_unit.saturating_mul(U256::from(units))
}

/// Gas buying `cost` wei at `gas_price` (rounded down, saturating), as `GetPosterGas` outside
/// gas estimation; no gas when the price is zero.
pub fn poster_gas(cost: U256, gas_price: U256) -> u64 {
    if gas_price.is_zero() {
        return 0;
    }
    (cost / gas_price).saturating_to()
}

/// `GetPosterGas` in gas estimation: the cost padded by 10 %, at 7/8 of `gas_price` but no less
/// than `min_base_fee`.
pub fn estimation_poster_gas(cost: U256, gas_price: U256, min_base_fee: U256) -> u64 {
    let price = (gas_price * U256::from(7) / U256::from(8)).max(min_base_fee);
    poster_gas(cost * U256::from(GAS_ESTIMATION_L1_PRICE_PADDING_BIPS) / U256::from(ONE_IN_BIPS), price)
}

/// The fields of a message that its L1 stand-in is built from.
#[derive(Clone, Debug, Default)]
pub struct Message {
    /// Nonce (0: a placeholder is used).
    pub nonce: u64,
    /// Priority fee (0: a placeholder is used).
    pub max_priority_fee_per_gas: u128,
    /// Fee cap (0: a placeholder is used).
    pub max_fee_per_gas: u128,
    /// Gas limit (0: a placeholder is used, as always in gas estimation).
    pub gas: u64,
    /// Recipient; `None` creates.
    pub to: Option<Address>,
    /// Value.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
    /// EIP-2930 access list.
    pub access_list: AccessList,
}

fn word(label: &str) -> [u8; 32] {
    keccak256(label.as_bytes()).0
}

/// `l1pricing.RandomGas`: the gas limit of a stand-in in gas estimation.
pub fn random_gas() -> u64 {
    let w = word("Gas");
    u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

fn random_nonce() -> u64 {
    let w = word("Nonce");
    u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

fn random_cap(label: &str) -> u128 {
    let w = word(label);
    u128::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// Arbitrum One's chain id, whose triple is the stand-in's `v`.
const ARBITRUM_ONE: u64 = 42_161;

impl Message {
    /// `makeFakeTxForMessage`'s bytes: an EIP-1559 transaction (chain id 0) of these fields,
    /// placeholders for the zero ones, and the fixed `v`, `r`, `s` Nitro uses; with
    /// `estimating`, the gas limit is always the placeholder.
    pub fn stand_in(&self, estimating: bool) -> Vec<u8> {
        let nonce = if self.nonce == 0 { random_nonce() } else { self.nonce };
        let tip =
            if self.max_priority_fee_per_gas == 0 { random_cap("GasTipCap") } else { self.max_priority_fee_per_gas };
        let cap = if self.max_fee_per_gas == 0 { random_cap("GasFeeCap") } else { self.max_fee_per_gas };
        let gas = if self.gas == 0 || estimating { random_gas() } else { self.gas };
        let v = U256::from(ARBITRUM_ONE * 3);
        self.encode_1559(0, nonce, tip, cap, gas, v)
    }

    /// The bytes of this message signed as an EIP-1559 transaction on `chain_id` (with
    /// signature values of a real signature's size): what a transaction sent without a signature
    /// (in-process use) is priced as.
    pub fn signed_like(&self, chain_id: u64) -> Vec<u8> {
        let tip = self.max_priority_fee_per_gas;
        self.encode_1559(chain_id, self.nonce, tip, self.max_fee_per_gas, self.gas, U256::ZERO)
    }

    fn encode_1559(&self, chain_id: u64, nonce: u64, tip: u128, cap: u128, gas: u64, v: U256) -> Vec<u8> {
        let r = U256::from_be_bytes(word("R"));
        let s = U256::from_be_bytes(word("S"));
        let mut payload = Vec::new();
        chain_id.encode(&mut payload);
        nonce.encode(&mut payload);
        tip.encode(&mut payload);
        cap.encode(&mut payload);
        gas.encode(&mut payload);
        match &self.to {
            Some(to) => to.encode(&mut payload),
            None => payload.push(alloy_rlp::EMPTY_STRING_CODE),
        }
        self.value.encode(&mut payload);
        self.data.encode(&mut payload);
        self.access_list.encode(&mut payload);
        v.encode(&mut payload);
        r.encode(&mut payload);
        s.encode(&mut payload);
        let mut out = vec![2u8];
        Header { list: true, payload_length: payload.len() }.encode(&mut out);
        out.extend_from_slice(&payload);
        out
    }
}

/// revm's mainnet handler with Nitro's poster charge: `poster_gas` is added to the intrinsic gas
/// (refused as "intrinsic gas too low" when the gas limit cannot pay it) and kept out of the
/// EIP-3529 refund cap, which applies to the L2 gas only (`NonrefundableGas`).
pub(crate) struct ArbHandler {
    pub(crate) poster_gas: u64,
}

mod handler {
    use std::convert::Infallible;

    use revm::{
        context::ContextTr,
        context_interface::{result::EVMError, result::HaltReason, Cfg, Transaction},
        handler::{validation, EvmTr, FrameResult, Handler},
        interpreter::InitialAndFloorGas,
    };

    use super::ArbHandler;
    use crate::chain::evm::DevEvm;

    impl Handler for ArbHandler {
        type Evm = DevEvm;
        type Error = EVMError<Infallible>;
        type HaltReason = HaltReason;

        fn validate_initial_tx_gas(&self, evm: &mut DevEvm) -> Result<InitialAndFloorGas, Self::Error> {
            let ctx = evm.ctx_ref();
            let tx = ctx.tx();
            let mut gas = validation::validate_initial_tx_gas_with_gas_params(
                tx,
                *ctx.cfg().spec(),
                ctx.cfg().gas_params(),
                ctx.cfg().is_eip7623_disabled(),
                ctx.cfg().is_amsterdam_eip8037_enabled(),
                ctx.cfg().tx_gas_limit_cap(),
                None,
            )?;
            let total = gas.initial_regular_gas().saturating_add(self.poster_gas);
            if total.saturating_add(gas.initial_state_gas_final()) > tx.gas_limit() {
                return Err(EVMError::Custom("intrinsic gas too low".into()));
            }
            gas.set_initial_regular_gas(total);
            Ok(gas)
        }

        fn refund(
            &self,
            evm: &mut DevEvm,
            exec_result: &mut FrameResult,
            eip7702_refund: i64,
        ) -> Result<(), Self::Error> {
            let quotient = evm.ctx().cfg().gas_params().max_refund_quotient();
            let gas = exec_result.gas_mut();
            gas.record_refund(eip7702_refund);
            let used = gas.total_gas_spent().saturating_sub(gas.reservoir()).saturating_sub(self.poster_gas);
            gas.set_refund((gas.refunded().max(0) as u64).min(used / quotient) as i64);
            Ok(())
        }
    }
}
