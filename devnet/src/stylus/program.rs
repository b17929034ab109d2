//! What a Stylus program is on chain, and the checks Nitro applies when it is activated.
//!
//! Deployed code is `EF F0 00` + a dictionary byte + the brotli-compressed WASM. Activation
//! (ArbWasm's `activateProgram`) decompresses it and refuses anything Nitro's prover could not
//! run: WASM features beyond its set, imports other than the `vm_hooks` host functions, a start
//! function, missing exports, and programs over the size and count limits. A devnet that
//! accepted more than Nitro would let a program pass every local test and then fail to activate
//! on a real chain, so these rules are kept strict and the error texts follow Nitro's.

use std::io::Read;

use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};

use super::hostio::HOSTIOS;

pub use stylus_deploy::{init_code, is_stylus, pack, STYLUS_PREFIX};

/// Largest uncompressed program.
pub const MAX_WASM_SIZE: usize = 128 * 1024;
/// Largest deployed code (EIP-170), prefix included.
pub const MAX_CODE_SIZE: usize = 24_576;
/// Largest initial memory, in 64 KiB pages.
pub const MAX_INITIAL_PAGES: u64 = 128;
/// Count limits of Nitro's prover.
pub const MAX_FUNCTIONS: usize = 4096;
/// Most locals in one function.
pub const MAX_LOCALS: u32 = 348;
/// Most data segments.
pub const MAX_DATA_SEGMENTS: u32 = 128;
/// Most exports.
pub const MAX_EXPORTS: u32 = 1024;
/// Most imports.
pub const MAX_IMPORTS: u32 = 513;
/// Most globals.
pub const MAX_GLOBALS: u32 = 32_768;
/// Most element segments.
pub const MAX_ELEMENT_SEGMENTS: u32 = 128;
/// Most table entries (sum of initial sizes) and most element entries.
pub const MAX_TABLE_ENTRIES: u64 = 4096;
/// The entrypoint every program exports: `(i32 args_len) -> i32 status`.
pub const ENTRYPOINT: &str = "user_entrypoint";

/// Why a program cannot be activated. Where Nitro's prover has a message for the same refusal,
/// the text follows it, so a refusal here reads like the one a real chain would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    /// The code does not start with `EF F0 00`.
    #[error("ProgramNotWasm: code does not start with the Stylus prefix EF F0 00")]
    NotWasm,
    /// Dictionary byte other than 0 (empty dictionary).
    #[error(
        "unsupported brotli dictionary {0}: only 0 (no dictionary, what cargo-stylus writes) is supported; \
         1 is Nitro's built-in Stylus dictionary, which this host does not ship"
    )]
    Dictionary(u8),
    /// Deployed code over 24,576 bytes.
    #[error("program code too large: {0} bytes, limit {MAX_CODE_SIZE}")]
    CodeTooLarge(usize),
    /// Brotli stream is corrupt.
    #[error("failed to decompress program: {0}")]
    Decompress(String),
    /// Uncompressed WASM over 128 KiB.
    #[error("decompressed program too large: over {MAX_WASM_SIZE} bytes")]
    WasmTooLarge,
    /// wasmparser refused the module (bad encoding or a feature outside Nitro's set).
    #[error("failed to parse wasm: {0}")]
    Parse(String),
    /// An import from a module other than `vm_hooks`, or an unknown hostio.
    #[error("bad import {module}.{name}: {reason}")]
    Import {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required export is missing.
    #[error("missing export with name {0}")]
    MissingExport(&'static str),
    /// `user_entrypoint` exists but is not a function `(i32) -> i32`.
    #[error("wrong type for {ENTRYPOINT}: must be a function (i32) -> i32")]
    EntrypointType,
    /// An import or export name starting with `stylus`, which Nitro reserves for its
    /// instrumentation (`stylus_ink_left`, `stylus_start`, ...).
    #[error("binary {direction} reserved symbol {name}")]
    Reserved {
        /// `imports` or `exports`.
        direction: &'static str,
        /// The offending name.
        name: String,
    },
    /// An export with the name of an imported hostio.
    #[error("binary exports an import with the same name {0}")]
    ExportShadowsImport(String),
    /// A start function is present.
    #[error("wasm start functions not allowed")]
    StartFunction,
    /// Initial memory over 128 pages, or more than one memory.
    #[error("memory exceeds limit: {0}")]
    Memory(String),
    /// A count limit is exceeded.
    #[error("too many wasm {what}: {count} > {limit}")]
    Limit {
        /// What is counted.
        what: &'static str,
        /// How many there are.
        count: u64,
        /// The limit.
        limit: u64,
    },
}

/// The WASM inside deployed code.
pub fn unpack(code: &[u8]) -> Result<Vec<u8>, ActivationError> {
    if !is_stylus(code) {
        return Err(ActivationError::NotWasm);
    }
    if code.len() > MAX_CODE_SIZE {
        return Err(ActivationError::CodeTooLarge(code.len()));
    }
    if code[3] != 0 {
        return Err(ActivationError::Dictionary(code[3]));
    }
    let mut wasm = Vec::new();
    let mut reader = brotli::Decompressor::new(&code[4..], 4096).take(MAX_WASM_SIZE as u64 + 1);
    reader.read_to_end(&mut wasm).map_err(|e| ActivationError::Decompress(e.to_string()))?;
    if wasm.len() > MAX_WASM_SIZE {
        return Err(ActivationError::WasmTooLarge);
    }
    Ok(wasm)
}

/// The WASM features Nitro's prover accepts: the MVP plus these four, and floats.
pub fn nitro_features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::FLOATS
}

/// Facts about a program that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Initial memory, in pages.
    pub initial_pages: u32,
    /// Number of functions defined by the program.
    pub functions: usize,
    /// The hostios it imports.
    pub imports: Vec<String>,
    /// Gas every uncached call pays before running, besides memory: Nitro's `initGas`
    /// (`MinInitGas·128 + initCost`) plus its `cachedGas` (`MinCachedInitGas·32 + cachedCost`),
    /// from the program's shape as Nitro computes them at activation.
    pub call_overhead_gas: u64,
    /// The program's shape, the inputs of Nitro's activation-time cost estimates (see
    /// `chain::programs` for the costs ArbOS records from it).
    pub shape: ProgramShape,
}

/// What Nitro's activation measures of a program to predict its costs
/// (`crates/prover/src/binary.rs`): see [`call_overhead_gas`] for the meaning of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgramShape {
    /// Functions defined.
    pub functions: u64,
    /// Sum of the defined functions' params and results.
    pub signature_words: u64,
    /// Bytes of uncompressed WASM.
    pub wasm_len: u64,
    /// Globals defined, before metering.
    pub globals: u64,
    /// Bytes of data segments plus element entries.
    pub data: u64,
    /// Initial memory, in pages (Nitro's footprint).
    pub pages: u64,
}

/// Nitro's per-call overhead from a program's shape (see [`ProgramInfo::call_overhead_gas`]):
/// `functions` defined, `signature_words` the sum of their params and results, `wasm_len` bytes,
/// `globals` defined (before metering), `data` the encoded bytes of every data and element
/// segment (their `range` in the binary, as Nitro's prover `binary.rs` counts them), `pages` of
/// initial memory.
pub fn call_overhead_gas(
    functions: u64,
    signature_words: u64,
    wasm_len: u64,
    globals: u64,
    data: u64,
    pages: u64,
) -> u64 {
    // Nitro counts the four globals its instrumentation adds.
    let g = globals + 4;
    let cached_cost = functions * 13_420 / 100_000
        + signature_words * 89 / 100_000
        + wasm_len * 122 / 100_000
        + g * 1_628 / 1_000
        + data * 75_244 / 100_000
        + pages * 5;
    let init_cost = functions * 8_252 / 1_000 + signature_words * 1_059 / 1_000 + wasm_len * 1_286 / 10_000;
    // Stylus version 2 with the default parameters: MinInitGas 69, MinCachedInitGas 11, both
    // scalars 50 (100 %).
    let cached_cost = cached_cost.min(u16::MAX as u64);
    let init_cost = init_cost.min(u16::MAX as u64);
    (11 * 32 + cached_cost) + (69 * 128 + init_cost)
}

/// Nitro's memory gas for a call whose program starts with `pages` pages, in a transaction that
/// opened none before (the general rule, per transaction, is in [`pages`](super::pages)).
pub fn memory_gas(pages: u64) -> u64 {
    super::pages::open_cost(u16::try_from(pages).unwrap_or(u16::MAX), 0, 0)
}

fn limit(what: &'static str, count: u64, max: u64) -> Result<(), ActivationError> {
    if count > max {
        return Err(ActivationError::Limit { what, count, limit: max });
    }
    Ok(())
}

fn parse_err(e: wasmparser::BinaryReaderError) -> ActivationError {
    ActivationError::Parse(e.to_string())
}

/// Checks `wasm` the way Nitro does at activation.
pub fn validate(wasm: &[u8]) -> Result<ProgramInfo, ActivationError> {
    if wasm.len() > MAX_WASM_SIZE {
        return Err(ActivationError::WasmTooLarge);
    }
    // The validator guarantees every index used below (types, functions) is in range.
    let mut validator = Validator::new_with_features(nitro_features());
    validator.validate_all(wasm).map_err(parse_err)?;

    let mut types: Vec<FuncType> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut memories = Vec::new();
    let mut memory_export = false;
    let mut entry = None;
    let mut defined = 0usize;
    let mut globals = 0u64;
    let mut data_bytes = 0u64;
    let mut element_entries = 0u64;
    let mut table_entries = 0u64;
    let mut start = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(parse_err)? {
            Payload::TypeSection(r) => {
                for group in r.into_iter() {
                    for sub in group.map_err(parse_err)?.into_types() {
                        match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => types.push(f),
                            _ => return Err(ActivationError::Parse("only function types are supported".into())),
                        }
                    }
                }
            }
            Payload::ImportSection(r) => {
                limit("imports", r.count() as u64, MAX_IMPORTS as u64)?;
                for import in r {
                    let import = import.map_err(parse_err)?;
                    let bad = |reason| ActivationError::Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        reason,
                    };
                    if import.module != "vm_hooks" {
                        return Err(bad("imports must come from vm_hooks"));
                    }
                    let TypeRef::Func(ty) = import.ty else {
                        return Err(bad("only functions can be imported"));
                    };
                    if import.name.starts_with("stylus") {
                        return Err(ActivationError::Reserved { direction: "imports", name: import.name.into() });
                    }
                    let Some(hostio) = HOSTIOS.iter().find(|h| h.name == import.name) else {
                        return Err(bad("unknown hostio"));
                    };
                    let sig = &types[ty as usize];
                    if sig.params() != hostio.params || sig.results() != hostio.results {
                        return Err(bad("signature does not match the hostio"));
                    }
                    func_types.push(ty);
                    imports.push(import.name.to_string());
                }
            }
            Payload::FunctionSection(r) => {
                defined = r.count() as usize;
                limit("functions", defined as u64, MAX_FUNCTIONS as u64)?;
                for ty in r {
                    func_types.push(ty.map_err(parse_err)?);
                }
            }
            Payload::TableSection(r) => {
                for t in r {
                    table_entries = table_entries.saturating_add(t.map_err(parse_err)?.ty.initial);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    memories.push(m.map_err(parse_err)?);
                }
            }
            Payload::ExportSection(r) => {
                limit("exports", r.count() as u64, MAX_EXPORTS as u64)?;
                for e in r {
                    let e = e.map_err(parse_err)?;
                    match (e.name, e.kind) {
                        (ENTRYPOINT, ExternalKind::Func) => entry = Some(Some(e.index)),
                        (ENTRYPOINT, _) => entry = Some(None),
                        ("memory", ExternalKind::Memory) => memory_export = true,
                        _ => {}
                    }
                    exports.push(e.name.to_string());
                }
            }
            Payload::StartSection { .. } => start = true,
            Payload::DataSection(r) => {
                limit("datas", r.count() as u64, MAX_DATA_SEGMENTS as u64)?;
                // Nitro's `data_len` (prover `binary.rs`) sums each segment's whole encoding —
                // flags, memory index, offset expression, length and bytes — not just its data.
                for d in r {
                    data_bytes += d.map_err(parse_err)?.range.len() as u64;
                }
            }
            Payload::ElementSection(r) => {
                limit("elements", r.count() as u64, MAX_ELEMENT_SEGMENTS as u64)?;
                // Likewise whole segments' bytes, both for the cost and for the 4,096 limit.
                for e in r {
                    element_entries += e.map_err(parse_err)?.range.len() as u64;
                }
            }
            Payload::GlobalSection(r) => {
                globals = r.count() as u64;
                limit("globals", globals, MAX_GLOBALS as u64)?;
            }
            Payload::CodeSectionEntry(body) => {
                let mut locals = 0u64;
                for l in body.get_locals_reader().map_err(parse_err)? {
                    locals += l.map_err(parse_err)?.0 as u64;
                }
                limit("locals", locals, MAX_LOCALS as u64)?;
            }
            _ => {}
        }
    }
    limit("table entries", table_entries, MAX_TABLE_ENTRIES)?;
    limit("element entries", element_entries, MAX_TABLE_ENTRIES)?;
    // Nitro compares an import's name with every export name and with its last `__` part.
    for import in &imports {
        if exports.iter().any(|e| e.rsplit("__").next() == Some(import.as_str())) {
            return Err(ActivationError::ExportShadowsImport(import.clone()));
        }
    }
    if let Some(name) = exports.iter().filter_map(|e| e.rsplit("__").next()).find(|n| n.starts_with("stylus")) {
        return Err(ActivationError::Reserved { direction: "exports", name: name.into() });
    }
    let Some(entry) = entry else {
        return Err(ActivationError::MissingExport(ENTRYPOINT));
    };
    let ty = entry.map(|i| &types[func_types[i as usize] as usize]);
    if !ty.is_some_and(|ty| ty.params() == [ValType::I32] && ty.results() == [ValType::I32]) {
        return Err(ActivationError::EntrypointType);
    }
    if memories.len() > 1 {
        return Err(ActivationError::Limit { what: "memories", count: memories.len() as u64, limit: 1 });
    }
    let (Some(memory), true) = (memories.first(), memory_export) else {
        return Err(ActivationError::MissingExport("memory"));
    };
    let initial = memory.initial;
    if initial > MAX_INITIAL_PAGES {
        return Err(ActivationError::Memory(format!("{initial} > {MAX_INITIAL_PAGES} initial pages")));
    }
    if start {
        return Err(ActivationError::StartFunction);
    }
    let imported = func_types.len() - defined;
    let signature_words: u64 = func_types[imported..]
        .iter()
        .map(|t| (types[*t as usize].params().len() + types[*t as usize].results().len()) as u64)
        .sum();
    let data = data_bytes + element_entries;
    let call_overhead_gas =
        call_overhead_gas(defined as u64, signature_words, wasm.len() as u64, globals, data, initial);
    let shape = ProgramShape {
        functions: defined as u64,
        signature_words,
        wasm_len: wasm.len() as u64,
        globals,
        data,
        pages: initial,
    };
    Ok(ProgramInfo { initial_pages: initial as u32, functions: defined, imports, call_overhead_gas, shape })
}

/// Unpacks and validates deployed code: everything activation checks.
pub fn activate(code: &[u8]) -> Result<(Vec<u8>, ProgramInfo), ActivationError> {
    let wasm = unpack(code)?;
    let info = validate(&wasm)?;
    Ok((wasm, info))
}
