//! Nitro's ink meter, compiled into the program.
//!
//! Nitro meters a program by rewriting it before compilation: the code is cut into straight-line
//! segments (each ends with, and includes, `end`, `else`, `return`, `loop`, `br`, `br_if`,
//! `br_table`, `if`, `call` or `call_indirect`), and each segment first pays its cost — a
//! 2,450-ink header plus the sum of its operators' prices (`pricing_v1`) — from a global ink
//! counter, trapping when the counter cannot pay. This module applies the same rewrite, with the
//! same table, so a program's gas here is the gas Nitro would charge for its operators. Hostios
//! charge the same counter (`hostio.rs`).
//!
//! `memory.copy` and `memory.fill` also pay per byte when they run, as Nitro's dynamic meter
//! (`crates/prover/src/programs/dynamic.rs`, 800 / 8 = 100 ink per byte for Stylus versions 1–3 in
//! `config.rs`) charges them: the byte count on top of the stack is moved to a scratch global,
//! multiplied by 100 and taken from the counter, trapping out of ink when it cannot be paid.

use std::convert::Infallible;

use wasm_encoder::{
    reencode::{utils, Error, Reencode, RoundtripReencoder},
    CodeSection, ConstExpr, ExportKind, ExportSection, GlobalSection, GlobalType, Instruction, Module, SectionId,
    ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, Payload};

/// Export name of the ink counter (i64).
pub const INK_GLOBAL: &str = "stylus_ink_left";
/// Export name of the out-of-ink flag (i32, 1 once the counter could not pay).
pub const STATUS_GLOBAL: &str = "stylus_ink_status";
/// Ink every segment pays before its operators.
pub const SEGMENT_HEADER_INK: u64 = 2_450;
/// Ink per byte of `memory.copy` and `memory.fill`, paid when they run.
pub const MEMORY_BYTE_INK: u64 = 100;

/// Nitro's `pricing_v1` price of one operator; unsupported operators cannot be paid for.
/// `params` gives the parameter count of each type index (for `call_indirect`, which pays 650
/// per parameter of its signature).
pub fn op_ink(op: &Operator, params: &[u32]) -> u64 {
    use Operator::*;
    match op {
        Unreachable | Return | Nop | I32Const { .. } | I64Const { .. } => 1,
        Block { .. } | Loop { .. } | Else | End => 1,
        Drop => 9,
        Br { .. } | BrIf { .. } | If { .. } => 765,
        BrTable { targets } => 2_400 + 325 * targets.len() as u64,
        Select => 1_250,
        Call { .. } => 3_800,
        CallIndirect { type_index, .. } => {
            params.get(*type_index as usize).map_or(u64::MAX, |n| 13_610 + 650 * u64::from(*n))
        }
        LocalGet { .. } | LocalTee { .. } => 75,
        LocalSet { .. } => 210,
        GlobalGet { .. } => 225,
        GlobalSet { .. } => 575,
        I32Load { .. } | I32Load8S { .. } | I32Load8U { .. } | I32Load16S { .. } | I32Load16U { .. } => 670,
        I64Load { .. }
        | I64Load8S { .. }
        | I64Load8U { .. }
        | I64Load16S { .. }
        | I64Load16U { .. }
        | I64Load32S { .. }
        | I64Load32U { .. } => 680,
        I32Store { .. } | I32Store8 { .. } | I32Store16 { .. } => 825,
        I64Store { .. } | I64Store8 { .. } | I64Store16 { .. } | I64Store32 { .. } => 950,
        MemorySize { .. } => 3_000,
        MemoryGrow { .. } => 8_050,
        I32Eqz | I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU => 170,
        I64Eqz | I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU => 225,
        I32Clz | I32Ctz | I64Clz | I64Ctz => 210,
        I32Add | I32Sub | I32And | I32Or | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr => 70,
        I32Mul | I64Mul => 160,
        I32DivS | I32DivU | I32RemS | I32RemU => 1_120,
        I64Add | I64Sub | I64And | I64Or | I64Xor | I64Shl | I64ShrS | I64ShrU | I64Rotl | I64Rotr => 100,
        I64DivS | I64DivU | I64RemS | I64RemU => 1_270,
        I32Popcnt => 2_650,
        I64Popcnt => 6_000,
        I32WrapI64 | I64ExtendI32S | I64ExtendI32U => 100,
        I32Extend8S | I32Extend16S | I64Extend8S | I64Extend16S | I64Extend32S => 100,
        MemoryCopy { .. } | MemoryFill { .. } => 950,
        _ => u64::MAX,
    }
}

fn ends_segment(op: &Operator) -> bool {
    use Operator::*;
    matches!(
        op,
        End | Else
            | Return
            | Loop { .. }
            | Br { .. }
            | BrIf { .. }
            | BrTable { .. }
            | If { .. }
            | Call { .. }
            | CallIndirect { .. }
    )
}

struct Metering {
    /// Parameter count of each type, by type index.
    params: Vec<u32>,
    defined_globals: u32,
    has_globals: bool,
    inserted_globals: bool,
}

impl Metering {
    fn ink(&self) -> u32 {
        self.defined_globals
    }
    fn status(&self) -> u32 {
        self.defined_globals + 1
    }
    fn scratch(&self) -> u32 {
        self.defined_globals + 2
    }
    fn add_globals(&self, globals: &mut GlobalSection) {
        let ty = |val_type| GlobalType { val_type, mutable: true, shared: false };
        globals.global(ty(ValType::I64), &ConstExpr::i64_const(0));
        globals.global(ty(ValType::I32), &ConstExpr::i32_const(0));
        globals.global(ty(ValType::I32), &ConstExpr::i32_const(0));
    }
    /// Nitro's dynamic meter before `memory.copy`/`memory.fill`: the byte count (top of stack)
    /// times `coefficient` is taken from the counter; a wrap-around (the cost was more than what
    /// is left) sets the status and traps.
    fn charge_bytes(&self, f: &mut wasm_encoder::Function, coefficient: u64) {
        use Instruction::*;
        for i in [
            GlobalSet(self.scratch()),
            GlobalGet(self.ink()),
            GlobalGet(self.ink()),
            GlobalGet(self.scratch()),
            I64ExtendI32U,
            I64Const(coefficient as i64),
            I64Mul,
            I64Sub,
            GlobalSet(self.ink()),
            GlobalGet(self.ink()),
            I64LtU,
            If(wasm_encoder::BlockType::Empty),
            I32Const(1),
            GlobalSet(self.status()),
            Unreachable,
            End,
            GlobalGet(self.scratch()),
        ] {
            f.instruction(&i);
        }
    }
    /// `if ink < cost { status = 1; unreachable } ink -= cost`
    fn charge(&self, f: &mut wasm_encoder::Function, cost: u64) {
        let cost = cost as i64; // u64::MAX becomes -1: unsigned comparison keeps it unpayable
        f.instruction(&Instruction::GlobalGet(self.ink()));
        f.instruction(&Instruction::I64Const(cost));
        f.instruction(&Instruction::I64LtU);
        f.instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
        f.instruction(&Instruction::I32Const(1));
        f.instruction(&Instruction::GlobalSet(self.status()));
        f.instruction(&Instruction::Unreachable);
        f.instruction(&Instruction::End);
        f.instruction(&Instruction::GlobalGet(self.ink()));
        f.instruction(&Instruction::I64Const(cost));
        f.instruction(&Instruction::I64Sub);
        f.instruction(&Instruction::GlobalSet(self.ink()));
    }
}

/// Position of a section in a module's order (DataCount sits between Element and Code).
fn order(id: SectionId) -> u8 {
    match id {
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
        _ => 0,
    }
}

impl Reencode for Metering {
    type Error = Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), Error> {
        utils::parse_global_section(self, globals, section)?;
        self.add_globals(globals);
        self.inserted_globals = true;
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), Error> {
        if self.has_globals || self.inserted_globals {
            return Ok(());
        }
        let after_ok = after.is_none_or(|a| order(a) < order(SectionId::Global));
        let before_ok = before.is_none_or(|b| order(b) > order(SectionId::Global));
        if after_ok && before_ok {
            let mut globals = GlobalSection::new();
            self.add_globals(&mut globals);
            module.section(&globals);
            self.inserted_globals = true;
        }
        Ok(())
    }

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), Error> {
        utils::parse_export_section(self, exports, section)?;
        exports.export(INK_GLOBAL, ExportKind::Global, self.ink());
        exports.export(STATUS_GLOBAL, ExportKind::Global, self.status());
        Ok(())
    }

    fn parse_function_body(&mut self, code: &mut CodeSection, func: FunctionBody<'_>) -> Result<(), Error> {
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let mut reader = func.get_operators_reader()?;
        let mut ops = Vec::new();
        while !reader.eof() {
            ops.push(reader.read()?);
        }
        let mut start = 0;
        while start < ops.len() {
            let end = ops[start..].iter().position(ends_segment).map_or(ops.len(), |i| start + i + 1);
            let cost =
                ops[start..end].iter().fold(SEGMENT_HEADER_INK, |acc, op| acc.saturating_add(op_ink(op, &self.params)));
            self.charge(&mut f, cost);
            for op in &ops[start..end] {
                if matches!(op, Operator::MemoryCopy { .. } | Operator::MemoryFill { .. }) {
                    self.charge_bytes(&mut f, MEMORY_BYTE_INK);
                }
                f.instruction(&self.instruction(op.clone())?);
            }
            start = end;
        }
        code.function(&f);
        Ok(())
    }
}

/// The program with Nitro's meter compiled in, and the two globals exported.
pub fn instrument(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut defined_globals = 0;
    let mut has_globals = false;
    let mut params = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|e| e.to_string())? {
            Payload::GlobalSection(r) => {
                defined_globals = r.count();
                has_globals = true;
            }
            Payload::TypeSection(r) => {
                for group in r {
                    for sub in group.map_err(|e| e.to_string())?.into_types() {
                        let n = match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => f.params().len() as u32,
                            _ => 0,
                        };
                        params.push(n);
                    }
                }
            }
            _ => {}
        }
    }
    let mut meter = Metering { params, defined_globals, has_globals, inserted_globals: false };
    let mut module = Module::new();
    meter
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| format!("cannot meter the program: {e:?}"))?;
    let _ = RoundtripReencoder;
    Ok(module.finish())
}
