//! The in-QEMU test suite. Each test prints `test NAME ... ok` or
//! `test NAME ... FAILED: why`; the harness on the host reads the lines.

use sel4::bootinfo::BootInfoCaps;
use sel4::cap::{init, Slot, Untyped, FULL_DEPTH};
use sel4::{root_slots, BootInfo, CPtr, CapType};

mod cspace;
#[cfg(feature = "difffuzz")]
pub mod difffuzz;
mod fuzz;
mod hostile;
mod regfuzz;
mod tcb_flags;
pub mod threads;
pub mod uintr;
pub mod vspace;

/// Whether this build runs the stress tests (see the `quick` feature).
pub const STRESS: bool = !cfg!(feature = "quick");

pub struct Runner {
    passed: u32,
    failed: u32,
    /// The untyped every suite retypes its objects from: after a failed
    /// test (which returned before its own cleanup) the runner cleans up
    /// for it, so that one failure is reported as one failure.
    scratch: Option<Untyped>,
}

impl Runner {
    /// Runs a stress test, in builds that run them.
    pub fn run_stress(&mut self, name: &str, test: impl FnOnce() -> Result<(), &'static str>) {
        if STRESS {
            self.run(name, test);
        }
    }

    pub fn run(&mut self, name: &str, test: impl FnOnce() -> Result<(), &'static str>) {
        match test() {
            Ok(()) => {
                self.passed += 1;
                sel4::println!("test {} ... ok", name);
            }
            Err(why) => {
                self.failed += 1;
                sel4::println!("test {} ... FAILED: {}", name, why);
                if let Some(ut) = self.scratch {
                    if let Err(why) = clean_up_after_failure(ut) {
                        sel4::println!("  (cleaning up after {}: {})", name, why);
                    }
                }
            }
        }
    }
}

/// What the runner does after a failed test: revoking the untyped deletes
/// every object the test made from it (threads, bindings and cap copies
/// with them), and the suites' shared records are cleared.
pub fn clean_up_after_failure(ut: Untyped) -> Result<(), &'static str> {
    if uintr::kernel_has_uintr_objects() {
        sel4::uintr::clui();
    }
    threads::clear_log();
    slot(ut).revoke().map_err(|_| "revoking the untyped failed")
}

/// The suites' pseudo-random numbers (xorshift64): the same seed gives the
/// same sequence on every kernel. Each fuzzer adds the distributions it
/// needs in its own `impl Rng`.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub fn ensure(cond: bool, why: &'static str) -> Result<(), &'static str> {
    if cond {
        Ok(())
    } else {
        Err(why)
    }
}

/// Spins until `done()` holds, at most `spins` times; whether it held.
/// For what a test expects to happen soon but at no instruction it can
/// name (an interrupt, another thread's progress): the bound turns a
/// lost event into a failure instead of a hang.
pub fn wait_until(done: impl Fn() -> bool, spins: u64) -> bool {
    for _ in 0..spins {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

const PAGE: u64 = 4096;

/// The first RAM untyped of at least 2^bits bytes, and its physical address.
pub fn find_untyped(bi: &BootInfo, bits: u8) -> Option<(Untyped, u64)> {
    bi.untyped_caps().find(|(_, d)| d.is_device == 0 && d.size_bits >= bits).map(|(cap, d)| (cap, d.paddr))
}

/// Retype destination: straight into the root CNode.
pub const ROOT_NODE: Slot = init::CNODE.itself();

/// The root CNode's slot holding `cap` (or at a cap pointer), as CNode
/// invocations name it.
pub fn slot(cap: impl Into<CPtr>) -> Slot {
    init::CNODE.slot(cap.into(), FULL_DEPTH)
}

pub fn run(bi: &'static BootInfo) -> (u32, u32) {
    let mut t = Runner { passed: 0, failed: 0, scratch: find_untyped(bi, 22).map(|(ut, _)| ut) };
    if let Some(ut) = t.scratch {
        uintr::probe_uintr_objects(bi, ut);
    }
    let bi_addr = bi as *const BootInfo as u64;

    t.run("bootinfo_header", || {
        ensure(bi.node_id == 0 && bi.num_nodes == 1, "expected node 0 of 1")?;
        ensure(bi.num_iopt_levels == u64::MAX, "without an IOMMU seL4 reports -1 IOMMU levels")?;
        ensure(bi.init_thread_cnode_size_bits == sel4::config::ROOT_CNODE_SIZE_BITS as u64, "root CNode must have 2^KernelRootCNodeSizeBits slots")?;
        ensure(bi.init_thread_domain == 0, "initial thread must be in domain 0")
    });

    t.run("extra_bootinfo_headers", || {
        // Chunks follow the bootinfo frame, each a header (id, length) and
        // a body.
        let base = bi_addr + PAGE;
        let mut at = 0u64;
        let mut ids = [0u64; 8];
        let mut n = 0;
        while at + 16 <= bi.extra_len && n < ids.len() {
            // Safety: the kernel maps extraLen bytes of chunks after bootinfo.
            let (id, len) = unsafe { (*((base + at) as *const u64), *((base + at + 8) as *const u64)) };
            ensure(len >= 16 && at + len <= bi.extra_len, "a chunk overruns extraLen")?;
            // Safety: inside the chunk just checked.
            let body = unsafe { core::slice::from_raw_parts((base + at + 16) as *const u8, (len - 16) as usize) };
            match id {
                3 => ensure(&body[..8] == b"RSD PTR ", "the ACPI chunk does not hold an RSDP")?,
                2 => {
                    ensure(len == 1220, "the memory-map chunk is not seL4's 1220 bytes")?;
                    let bytes = u32::from_le_bytes(body[..4].try_into().unwrap());
                    ensure(bytes >= 24 && bytes % 24 == 0, "the memory map is empty or misaligned")?;
                }
                5 => ensure(u32::from_le_bytes(body[..4].try_into().unwrap()) > 0, "TSC frequency is zero")?,
                _ => {}
            }
            ids[n] = id;
            n += 1;
            at += len;
        }
        ensure(at == bi.extra_len, "chunks do not add up to extraLen")?;
        // seL4's order: VBE (1), RSDP (3), framebuffer (4), memory map (2),
        // TSC (5); VBE and framebuffer only when the loader gave them.
        let rank = |id: u64| [1u64, 3, 4, 2, 5].iter().position(|&x| x == id);
        ensure(ids[..n].iter().all(|&id| rank(id).is_some()), "unknown chunk id")?;
        ensure(ids[..n].windows(2).all(|w| rank(w[0]) < rank(w[1])), "chunks are not in seL4's order")?;
        ensure([3, 2, 5].iter().all(|id| ids[..n].contains(id)), "RSDP, memory map or TSC chunk missing")?;
        ensure(bi.extra_bi_pages.len() == 1, "one frame of extra bootinfo expected")?;
        ensure(sel4::debug::cap_identify(bi.extra_bi_pages.start) == Some(CapType::Frame), "extra bootinfo cap is not a frame")
    });

    t.run("ipc_buffer_and_bootinfo_placement", || {
        ensure(bi.ipc_buffer.is_multiple_of(PAGE), "IPC buffer not page-aligned")?;
        ensure(bi_addr.is_multiple_of(PAGE), "bootinfo not page-aligned")?;
        ensure(bi_addr == bi.ipc_buffer + PAGE, "bootinfo must follow the IPC buffer (seL4 layout)")?;
        ensure(sel4::ipc_buffer::ipc_buffer_ptr() as u64 == bi.ipc_buffer, "runtime did not record the IPC buffer")
    });

    t.run("ipc_buffer_is_writable", || {
        sel4::ipc_buffer::with_ipc_buffer(|buf| {
            for (i, w) in buf.msg.iter_mut().enumerate() {
                *w = 0x5a5a_0000 + i as u64;
            }
            let ok = buf.msg.iter().enumerate().all(|(i, &w)| w == 0x5a5a_0000 + i as u64);
            buf.msg.iter_mut().for_each(|w| *w = 0);
            ensure(ok, "IPC buffer did not keep what was written")
        })
    });

    t.run("slot_regions_are_ordered", || {
        let regions = [bi.user_image_paging, bi.extra_bi_pages, bi.user_image_frames, bi.untyped, bi.empty];
        ensure(!bi.extra_bi_pages.is_empty(), "extra bootinfo pages missing")?;
        ensure(bi.user_image_paging.start == root_slots::NUM_INITIAL_CAPS, "first region must start at slot 16")?;
        ensure(regions.windows(2).all(|w| w[0].end == w[1].start), "regions must be contiguous in seL4's order")?;
        ensure(bi.empty.end == 1 << sel4::config::ROOT_CNODE_SIZE_BITS, "empty region must run to the end of the root CNode")?;
        ensure(!bi.user_image_frames.is_empty() && !bi.user_image_paging.is_empty(), "image caps missing")
    });

    t.run("untyped_list", || {
        let uts = bi.untypeds();
        ensure(!uts.is_empty(), "no untypeds")?;
        ensure(uts.len() as u64 == bi.untyped.len(), "list length differs from the slot region")?;
        ensure(uts.iter().all(|u| (4..=47).contains(&u.size_bits)), "untyped size outside 4..=47")?;
        // seL4 cuts untypeds by kernel-window address (0xffffff8000000000 +
        // paddr, wrapping), so that is what is size-aligned.
        let window = |p: u64| p.wrapping_add(0xffff_ff80_0000_0000);
        ensure(uts.iter().all(|u| window(u.paddr) % (1u64 << u.size_bits) == 0), "untyped not size-aligned")?;
        ensure(uts.iter().all(|u| u.is_device <= 1), "is_device must be 0 or 1")?;
        let ram: u64 = uts.iter().filter(|u| u.is_device == 0).map(|u| 1u64 << u.size_bits).sum();
        ensure(ram > 2 << 30, "expected more than 2 GiB of RAM untyped with -m 3G")?;
        let mut sorted = [(0u64, 0u64); 230];
        for (i, u) in uts.iter().enumerate() {
            sorted[i] = (u.paddr, u.paddr.wrapping_add(1u64 << u.size_bits));
        }
        let sorted = &mut sorted[..uts.len()];
        sorted.sort_unstable();
        ensure(sorted.windows(2).all(|w| w[0].1 <= w[1].0), "untypeds overlap")
    });

    t.run("initial_caps_identify", || {
        let expect = [
            (root_slots::NULL, Some(CapType::Null)),
            (root_slots::INIT_THREAD_TCB, Some(CapType::Thread)),
            (root_slots::INIT_THREAD_CNODE, Some(CapType::CNode)),
            (root_slots::INIT_THREAD_VSPACE, Some(CapType::Pml4)),
            (root_slots::IRQ_CONTROL, Some(CapType::IrqControl)),
            (root_slots::ASID_CONTROL, Some(CapType::AsidControl)),
            (root_slots::INIT_THREAD_ASID_POOL, Some(CapType::AsidPool)),
            (root_slots::IO_PORT_CONTROL, Some(CapType::IoPortControl)),
            (root_slots::IO_SPACE, Some(CapType::Null)),
            (root_slots::BOOT_INFO_FRAME, Some(CapType::Frame)),
            (root_slots::INIT_THREAD_IPC_BUFFER, Some(CapType::Frame)),
            (root_slots::DOMAIN, Some(CapType::Domain)),
        ];
        for (slot, ty) in expect {
            if sel4::debug::cap_identify(slot) != ty {
                return Err("an initial slot holds the wrong cap type");
            }
        }
        Ok(())
    });

    t.run("region_caps_identify", || {
        let all = |r: sel4::SlotRegion, ok: &dyn Fn(Option<CapType>) -> bool| (r.start..r.end).all(|s| ok(sel4::debug::cap_identify(s)));
        ensure(all(bi.untyped, &|t| t == Some(CapType::Untyped)), "untyped region holds a non-untyped cap")?;
        ensure(all(bi.user_image_frames, &|t| t == Some(CapType::Frame)), "image frame region holds a non-frame cap")?;
        let paging = |t| matches!(t, Some(CapType::Pdpt | CapType::PageDirectory | CapType::PageTable));
        ensure(all(bi.user_image_paging, &paging), "paging region holds a non-paging cap")?;
        let empty = sel4::SlotRegion { start: bi.empty.start, end: bi.empty.start + 64 };
        ensure(all(empty, &|t| t == Some(CapType::Null)), "empty region holds a cap")
    });

    t.run("cap_identify_failed_lookups_are_null", || {
        // Bits above the root CNode's index must match its zero guard.
        ensure(sel4::debug::cap_identify_raw(1 << sel4::config::ROOT_CNODE_SIZE_BITS | 1) == 0, "guard mismatch should give the null cap type")?;
        ensure(sel4::debug::cap_identify_raw(u64::MAX) == 0, "all-ones pointer should give the null cap type")
    });

    t.run("image_frames_cover_the_image", || {
        let frames = bi.user_image_frames.len();
        let code = start_address();
        // The image spans at least the code of this function and the stack.
        ensure(frames * PAGE >= bi.ipc_buffer - (code & !(PAGE - 1)), "fewer frames than the image needs")
    });

    t.run("tls_base_through_fs", || {
        static TLS_BLOCK: [u64; 4] = [0x1111, 0x2222, 0x3333, 0x4444];
        let mine = sel4::ipc_buffer::tls_block();
        sel4::arch::set_tls_base(TLS_BLOCK.as_ptr() as u64);
        let ok = sel4::arch::read_fs_word(0) == 0x1111 && sel4::arch::read_fs_word(24) == 0x4444;
        sel4::arch::set_tls_base(mine as u64);
        ensure(ok, "fs:[..] did not read the TLS block")?;
        ensure(sel4::ipc_buffer::ipc_buffer_ptr() as u64 == bi.ipc_buffer, "the thread's TLS block was not restored")
    });

    t.run("tls_base_non_canonical_is_refused", || {
        // seL4 leaves the TLS base as it was; a kernel that loaded the
        // value would take #GP itself on hardware that checks FS_BASE.
        static TLS_BLOCK: [u64; 1] = [0x7777];
        let mine = sel4::ipc_buffer::tls_block();
        sel4::arch::set_tls_base(TLS_BLOCK.as_ptr() as u64);
        sel4::arch::set_tls_base(0x8000_0000_0000_0000);
        sel4::arch::yield_now();
        let kept = sel4::arch::read_fs_word(0) == 0x7777;
        sel4::arch::set_tls_base(mine as u64);
        ensure(kept, "a non-canonical TLS base replaced the old one")
    });

    t.run("yield_returns", || {
        for _ in 0..100 {
            sel4::arch::yield_now();
        }
        Ok(())
    });

    t.run("name_thread_and_dump_scheduler", || {
        sel4::debug::name_thread(root_slots::INIT_THREAD_TCB, "rootserver-under-test");
        // A named thread blocked in Recv: the dump must show it with the
        // IP ReadRegisters gives, which seL4 makes the address of the
        // SYSCALL instruction itself. The host-side test (tests/src,
        // `dump_scheduler_problems`) compares the dump with the line
        // printed here, since the rootserver cannot read the console.
        let (ut, _) = find_untyped(bi, 22).ok_or("no RAM untyped of 4 MiB or more")?;
        let (ep, worker) = (bi.empty.start + 64 * 12, bi.empty.start + 64 * 12 + 1);
        ut.retype(sel4::ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        threads::spawn_with(bi, ut, threads::WorkerSpec { tcb_slot: worker, k: 1, prio: 255, fault_ep: 0 }, threads::echo_entry(), ep)?;
        sel4::debug::name_thread(worker, "dump-probe");
        sel4::arch::yield_now();
        let regs = sel4::cap::Tcb::from_cptr(worker).read_registers(false, 1).map_err(|_| "ReadRegisters failed")?;
        // Safety: the worker runs the rootserver's own code.
        let insn = unsafe { core::ptr::read_volatile(regs[0] as *const [u8; 2]) };
        ensure(insn == [0x0f, 0x05], "a thread blocked in Recv must report the SYSCALL instruction as its IP")?;
        sel4::println!("dump probe: \"dump-probe\" blocked in Recv at {:#018x}", regs[0]);
        sel4::debug::dump_scheduler();
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    t.run("snapshot_returns", || {
        sel4::debug::snapshot();
        Ok(())
    });

    t.run("registers_survive_syscalls", || {
        // Callee-saved registers and the stack must come back unchanged
        // from a kernel entry (the kernel saves and restores every one).
        let (before, after) = registers_around_syscall();
        ensure(before == after, "a register changed across a syscall")
    });

    t.run("a_failed_test_is_cleaned_up_after", || {
        // What the runner does after a failure, on what a failed test can
        // leave: an object in a slot the next test retypes into, a
        // running thread, an entry in the shared log.
        let (ut, _) = find_untyped(bi, 22).ok_or("no RAM untyped of 4 MiB or more")?;
        let (ep, worker) = (bi.empty.start + 64 * 12, bi.empty.start + 64 * 12 + 1);
        ut.retype(sel4::ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "endpoint retype failed")?;
        threads::spawn_with(bi, ut, threads::WorkerSpec { tcb_slot: worker, k: 1, prio: 100, fault_ep: 0 }, threads::echo_entry(), ep)?;
        threads::log_for_test(7);
        clean_up_after_failure(ut)?;
        ensure(sel4::debug::cap_identify(ep) == Some(CapType::Null), "the failed test's endpoint is still there")?;
        ensure(sel4::debug::cap_identify(worker) == Some(CapType::Null), "the failed test's thread is still there")?;
        ensure(threads::log_len() == 0, "the shared log was not cleared")?;
        ut.retype(sel4::ObjectType::Endpoint, 0, ROOT_NODE, ep, 1).map_err(|_| "the next test could not retype into the same slot")?;
        slot(ut).revoke().map_err(|_| "cleanup revoke failed")
    });

    cspace::run(&mut t, bi);
    threads::run(&mut t, bi);
    tcb_flags::run(&mut t, bi);
    vspace::run(&mut t, bi);
    uintr::run(&mut t, bi);
    hostile::run(&mut t, bi);
    if STRESS {
        fuzz::run(&mut t, bi);
        regfuzz::run(&mut t, bi);
    }

    (t.passed, t.failed)
}

/// The TSC frequency in MHz from the extra bootinfo (0 if absent).
pub fn tsc_mhz(bi: &BootInfo) -> u64 {
    let base = bi as *const BootInfo as u64 + PAGE;
    let mut at = 0;
    while at + 16 <= bi.extra_len {
        // Safety: the kernel maps extraLen bytes of chunks after bootinfo.
        let (id, len) = unsafe { (*((base + at) as *const u64), *((base + at + 8) as *const u64)) };
        if id == 5 && len >= 20 {
            // Safety: inside the chunk.
            return unsafe { *((base + at + 16) as *const u32) } as u64;
        }
        if len < 16 {
            break;
        }
        at += len;
    }
    0
}

/// First virtual address of the rootserver image (the page of `run`'s
/// lowest code is not necessarily it, so take the bootinfo's view: the
/// image ends where the IPC buffer starts).
pub fn image_start(bi: &BootInfo) -> u64 {
    bi.ipc_buffer - PAGE * bi.user_image_frames.len()
}

fn start_address() -> u64 {
    run as *const () as u64
}

/// Loads patterns into r12, r13 (through rax and rsi), r15 and r10,
/// issues a syscall that returns nothing in registers, and reads them
/// back. Fixed registers only: the pattern moves must not alias.
fn registers_around_syscall() -> ([u64; 4], [u64; 4]) {
    let before = [0x1234_5678_9abc_def0u64, 0x0fed_cba9_8765_4321, 0x1111_2222_3333_4444, 0x5555_6666_7777_8888];
    let mut after = [0u64; 4];
    // Safety: the asm saves and restores every register it touches except
    // the declared outputs and clobbers; Yield has no effect on memory.
    unsafe {
        core::arch::asm!(
            "push r12",
            "push r13",
            "mov r12, rax",
            "mov r13, rsi",
            "mov r14, rsp",
            "mov rdx, -7",
            "xor edi, edi",
            "syscall",
            "mov rsp, r14",
            "mov rax, r12",
            "mov rsi, r13",
            "pop r13",
            "pop r12",
            inout("rax") before[0] => after[0],
            inout("rsi") before[1] => after[1],
            inout("r15") before[2] => after[2],
            inout("r10") before[3] => after[3],
            out("rcx") _, out("rdx") _, out("rdi") _, out("r11") _, out("r14") _,
        );
    }
    (before, after)
}
