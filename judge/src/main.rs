//! `cargo run -p avocado-judge --features export-abi` prints the judge's Solidity interface.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    avocado_judge::print_from_args();
}
