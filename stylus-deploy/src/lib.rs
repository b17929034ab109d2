#![doc = include_str!("../README.md")]

use alloy_primitives::{address, Address};
use alloy_sol_types::sol;

/// The prefix of deployed Stylus code, before the dictionary byte.
pub const STYLUS_PREFIX: [u8; 3] = [0xEF, 0xF0, 0x00];

/// The ArbWasm precompile.
pub const ARB_WASM: Address = address!("0000000000000000000000000000000000000071");

sol! {
    /// The ArbWasm precompile (0x71): activation of Stylus programs and its parameters.
    interface ArbWasm {
        function activateProgram(address program) external payable returns (uint16 version, uint256 dataFee);
        function stylusVersion() external view returns (uint16 version);
        function codehashVersion(bytes32 codehash) external view returns (uint16 version);
        function programVersion(address program) external view returns (uint16 version);
        function inkPrice() external view returns (uint32 price);
        function maxStackDepth() external view returns (uint32 depth);
        function freePages() external view returns (uint16 pages);
        function pageGas() external view returns (uint16 gas);
        function pageLimit() external view returns (uint16 limit);
        function expiryDays() external view returns (uint16 _days);
        function keepaliveDays() external view returns (uint16 _days);
        function activationGas() external view returns (uint64 gas);
        function codehashKeepalive(bytes32 codehash) external payable;
        function codehashAsmSize(bytes32 codehash) external view returns (uint32 size);
        function programInitGas(address program) external view returns (uint64 gas, uint64 gasWhenCached);
        function programMemoryFootprint(address program) external view returns (uint16 footprint);
        function programTimeLeft(address program) external view returns (uint64 _secs);
        function blockCacheSize() external view returns (uint16 count);
        function minInitGas() external view returns (uint64 gas, uint64 cached);
        function initCostScalar() external view returns (uint64 percent);
        function pageRamp() external view returns (uint64 ramp);

        event ProgramActivated(bytes32 indexed codehash, bytes32 moduleHash, address program, uint256 dataFee, uint16 version);
        event ProgramLifetimeExtended(bytes32 indexed codehash, uint256 dataFee);

        error ProgramNotWasm();
        error ProgramNotActivated();
        error ProgramNeedsUpgrade(uint16 version, uint16 stylusVersion);
        error ProgramExpired(uint64 ageInSeconds);
        error ProgramUpToDate();
        error ProgramKeepaliveTooSoon(uint64 ageInSeconds);
        error ProgramInsufficientValue(uint256 have, uint256 want);
    }
}

/// Deployable code for `wasm`: `EF F0 00 00` + brotli quality 11, window 22 (what cargo-stylus
/// writes).
#[cfg(feature = "pack")]
pub fn pack(wasm: &[u8]) -> Vec<u8> {
    let mut out = vec![0xEF, 0xF0, 0x00, 0x00];
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
    brotli::BrotliCompress(&mut &wasm[..], &mut out, &params).expect("compressing into a Vec cannot fail");
    out
}

/// Whether `code` carries the Stylus prefix (what the chain checks before running it as WASM).
pub fn is_stylus(code: &[u8]) -> bool {
    code.len() > 3 && code.starts_with(&STYLUS_PREFIX)
}

/// EVM init code that deploys `code` as it is: cargo-stylus' 43-byte prelude
/// (`PUSH32 len, DUP1, PUSH1 43, PUSH1 0, CODECOPY, PUSH1 0, RETURN`, version byte 0) + `code`.
pub fn init_code(code: &[u8]) -> Vec<u8> {
    let mut init = vec![0x7f];
    let mut len = [0u8; 32];
    len[24..].copy_from_slice(&(code.len() as u64).to_be_bytes());
    init.extend_from_slice(&len);
    init.extend_from_slice(&[0x80, 0x60, 0x2b, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0x00]);
    init.extend_from_slice(code);
    init
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_code_returns_the_code_after_the_prelude() {
        let code = [0xEF, 0xF0, 0x00, 0x00, 1, 2, 3];
        let init = init_code(&code);
        assert_eq!(init.len(), 43 + code.len());
        assert_eq!(&init[43..], &code);
        assert!(is_stylus(&code) && !is_stylus(&code[..3]) && !is_stylus(&[0x60, 0x00, 0x00, 0x00]));
    }
}
