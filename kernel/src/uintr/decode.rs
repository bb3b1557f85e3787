//! Recognising the UINTR instructions at a user instruction pointer, for
//! the fallback that emulates them when the CPU raises #UD.
//!
//! Encodings (64-bit mode): SENDUIPI `F3 (REX) 0F C7 /6` with a register
//! operand (mod = 11; REX.B selects r8..r15); UIRET, TESTUI, CLUI and STUI
//! `F3 (REX) 0F 01 EC/ED/EE/EF`. Anything else, including these with a
//! LOCK, operand-size or REPNE prefix (which make them other instructions
//! or invalid), is not a UINTR instruction: the thread gets its #UD. (So
//! is a REX prefix followed by a legacy prefix, which the CPU would
//! ignore; no assembler emits one.)

/// A recognised instruction and its length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub insn: Insn,
    pub len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// SENDUIPI with the UITT index in general register `reg` (0 = rax,
    /// 1 = rcx, ..., 15 = r15: the hardware register numbering).
    SendUipi {
        reg: u8,
    },
    Uiret,
    Testui,
    Clui,
    Stui,
}

/// The longest x86 instruction; callers pass at least this many bytes
/// when they can (fewer near the end of a mapping).
pub const MAX_INSTRUCTION: usize = 15;

/// Decodes the instruction at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    let mut at = 0;
    let mut rep = false;
    // Legacy prefixes, in any order; segment overrides and address size
    // do not change these register-only instructions.
    loop {
        match *bytes.get(at)? {
            0xf3 => rep = true,
            0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 | 0x67 => {}
            // LOCK, operand size and REPNE: not these instructions.
            0xf0 | 0x66 | 0xf2 => return None,
            _ => break,
        }
        at += 1;
        if at >= MAX_INSTRUCTION {
            return None;
        }
    }
    if !rep {
        return None;
    }
    // One REX prefix may come right before the opcode.
    let rex = match *bytes.get(at)? {
        b @ 0x40..=0x4f => {
            at += 1;
            b
        }
        _ => 0,
    };
    if *bytes.get(at)? != 0x0f {
        return None;
    }
    let (opcode, modrm) = (*bytes.get(at + 1)?, *bytes.get(at + 2)?);
    let len = at + 3;
    if len > MAX_INSTRUCTION {
        return None;
    }
    let insn = match (opcode, modrm) {
        (0x01, 0xec) => Insn::Uiret,
        (0x01, 0xed) => Insn::Testui,
        (0x01, 0xee) => Insn::Clui,
        (0x01, 0xef) => Insn::Stui,
        // mod = 11 (register operand), reg = 6.
        (0xc7, m) if m >> 6 == 0b11 && (m >> 3) & 7 == 6 => Insn::SendUipi { reg: (m & 7) | (rex & 1) << 3 },
        _ => return None,
    };
    Some(Decoded { insn, len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The assembler's encoding of `senduipi` with register `reg`.
    fn senduipi(reg: u8) -> Vec<u8> {
        let mut v = vec![0xf3];
        if reg >= 8 {
            v.push(0x41);
        }
        v.extend([0x0f, 0xc7, 0xf0 | (reg & 7)]);
        v
    }

    #[test]
    fn every_register_operand() {
        for reg in 0..16 {
            let bytes = senduipi(reg);
            assert_eq!(decode(&bytes), Some(Decoded { insn: Insn::SendUipi { reg }, len: bytes.len() }), "reg {reg}");
        }
        // What GNU as emits for `senduipi %rax` and `senduipi %r13`.
        assert_eq!(decode(&[0xf3, 0x0f, 0xc7, 0xf0]).unwrap().insn, Insn::SendUipi { reg: 0 });
        assert_eq!(decode(&[0xf3, 0x41, 0x0f, 0xc7, 0xf5]).unwrap().insn, Insn::SendUipi { reg: 13 });
    }

    #[test]
    fn the_four_no_operand_instructions() {
        for (byte, insn) in [(0xec, Insn::Uiret), (0xed, Insn::Testui), (0xee, Insn::Clui), (0xef, Insn::Stui)] {
            assert_eq!(decode(&[0xf3, 0x0f, 0x01, byte, 0x90]), Some(Decoded { insn, len: 4 }));
        }
    }

    #[test]
    fn near_misses_are_not_uintr() {
        assert_eq!(decode(&[0x0f, 0x01, 0xec]), None, "no F3");
        assert_eq!(decode(&[0xf0, 0xf3, 0x0f, 0x01, 0xec]), None, "LOCK");
        assert_eq!(decode(&[0x66, 0xf3, 0x0f, 0xc7, 0xf0]), None, "operand size");
        assert_eq!(decode(&[0xf3, 0x0f, 0xc7, 0x30]), None, "memory operand");
        assert_eq!(decode(&[0xf3, 0x0f, 0xc7, 0xf8]), None, "reg field 7 is RDPID/RDSEED space");
        assert_eq!(decode(&[0xf3, 0x0f, 0x01, 0xeb]), None);
        assert_eq!(decode(&[0xf3, 0x0f, 0x01]), None, "truncated");
        assert_eq!(decode(&[0xf3; 20]), None, "prefixes alone");
        assert_eq!(decode(&[0xf3, 0x40, 0x41, 0x0f, 0xc7, 0xf0]), None, "two REX prefixes");
    }

    proptest! {
        /// Whatever the bytes, a decoded instruction lies within them and
        /// within 15 bytes, and decoding never panics.
        #[test]
        fn decoding_stays_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Some(d) = decode(&bytes) {
                prop_assert!(d.len <= bytes.len() && d.len <= MAX_INSTRUCTION);
                prop_assert_eq!(bytes[d.len - 1] >> 4 >= 0xc, true);
            }
        }

        /// Segment prefixes before a SENDUIPI change neither the register
        /// nor anything but the length.
        #[test]
        fn segment_prefixes_only_add_length(reg in 0u8..16, prefixes in proptest::collection::vec(prop_oneof![Just(0x2eu8), Just(0x3e), Just(0x64), Just(0x65)], 0..4)) {
            let mut bytes = prefixes.clone();
            bytes.extend(senduipi(reg));
            let d = decode(&bytes).unwrap();
            prop_assert_eq!(d, Decoded { insn: Insn::SendUipi { reg }, len: bytes.len() });
        }
    }
}
