//! `cargo run -p avocado-escrow --features export-abi` prints the escrow's Solidity interface: the
//! committed one, whose selectors, errors and events the program is built from.
#![cfg_attr(not(any(test, feature = "export-abi")), no_main)]

/// Without `export-abi` the binary is an empty stub: the program is the library.
#[cfg(not(any(test, feature = "export-abi")))]
#[no_mangle]
pub extern "C" fn main() {}

#[cfg(feature = "export-abi")]
fn main() {
    // cargo-stylus asks for a constructor first: the escrow has none, so it prints nothing then.
    if std::env::args().nth(1).as_deref() != Some("constructor") {
        print!("{}", avocado_escrow::INTERFACE);
    }
}
