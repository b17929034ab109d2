//! `cargo run -p avocado-escrow --features export-abi` prints the escrow's Solidity interface.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    avocado_escrow::print_from_args();
}
