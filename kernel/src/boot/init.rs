//! The boot sequence: from the multiboot hand-over to the rootserver's
//! first instruction in ring 3.

use super::acpi;
use super::elf::ElfImage;
use super::extra_bootinfo::{self, ExtraInputs};
use super::machine;
use super::multiboot::{self, BootParams, MMAP_TYPE_RAM};
use super::phys::{PhysRead, SliceMem};
use super::plan::{self, Plan};
use super::regions::{Region, UntypedBlock};
use super::{cmdline, BootError};
use crate::arch::x86_64::exit::{exit_qemu, ExitCode};
use crate::arch::x86_64::paging::{self, PAGE_SIZE};
use crate::arch::x86_64::vspace;
use crate::arch::x86_64::{apic, boot as arch_boot, context::UserContext, cpu, entry, gdt, idt, serial, tsc};
use crate::cap::rules::TCB_OFFSET;
use crate::cap::{vm_rights, Cap, FrameSize};
use crate::config::{paddr_to_pptr, PADDR_TOP};
use crate::cspace::cte::{self, Cte, MdbNode};
use crate::object::untyped::max_free_index;
use crate::thread::{self, tcb_slot, Tcb};
use sel4_compat::bootinfo::{BootInfo, SlotRegion, UntypedDesc};
use sel4_compat::caps::{root_slots, CapType};
use sel4_compat::objects::*;

/// The initial thread's ASID (seL4's `IT_ASID`).
const IT_ASID: u64 = 1;

/// Physical memory seen through the kernel's window, bounds-checked.
struct PhysWindow;

impl PhysRead for PhysWindow {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        match paddr.checked_add(buf.len() as u64) {
            Some(end) if end <= PADDR_TOP => {
                // Safety: the whole range is inside the physical window,
                // which maps every address below PADDR_TOP.
                unsafe { core::ptr::copy_nonoverlapping(paddr_to_pptr(paddr) as *const u8, buf.as_mut_ptr(), buf.len()) };
                true
            }
            _ => false,
        }
    }
}

/// Called by the boot assembly on the kernel stack, in long mode.
#[no_mangle]
pub extern "C" fn kernel_boot_entry(magic: u32, info: u32) -> ! {
    arch_boot::plant_stack_canary();
    serial::init_console(crate::config::DEFAULT_CONSOLE_PORT);
    // Safety: boot is single-threaded with interrupts off, and this is the
    // only call before the first return to user mode.
    let k = unsafe { crate::kernel_state::kernel_entry() };
    match boot(&mut k.global, magic, info as u64) {
        Ok(exit_fault_selftest) => {
            if exit_fault_selftest {
                // The first exit is the IRETQ into the rootserver, with its
                // address space already loaded: it faults inside the exit
                // stub, and the report must still come.
                kprintln!("selftest: leaving for user mode with RFLAGS.NT set");
                cpu::set_nested_task_flag();
            }
            crate::sched::schedule_and_return()
        }
        Err(e) => {
            kprintln!("boot failed: {e}");
            exit_qemu(ExitCode::Failed)
        }
    }
}

/// Chooses how user interrupts run and says so: the console line is how
/// users (and the tests and benchmark) know which path produced a result.
fn init_uintr(window: &mut crate::uintr::window::Slots, emulate_requested: bool) {
    use crate::arch::x86_64::uintr::{NOTIFICATION_VECTOR, WAKE_VECTOR};
    let has = cpu::has_uintr();
    crate::uintr::switch::init(window, has && !emulate_requested);
    if has && !emulate_requested {
        kprintln!(
            "user interrupts: the CPU has UINTR, enabled (hardware path); notifications on vector {NOTIFICATION_VECTOR:#x}, \
             blocked receivers woken on {WAKE_VECTOR:#x}"
        );
    } else {
        kprintln!(
            "user interrupts: {}; SENDUIPI, UIRET, TESTUI, CLUI and STUI are emulated on #UD (fallback path)",
            if has { "the CPU has UINTR, left disabled (uintr=emulate)" } else { "not in this CPU" }
        );
    }
}

/// Returns whether the kernel command line asked for the exit-stub fault
/// self-test.
fn boot(global: &mut crate::kernel_state::Global, magic: u32, info: u64) -> Result<bool, BootError> {
    let params = multiboot::parse(magic, info, &PhysWindow)?;
    let opts = cmdline::parse(params.cmdline_str());
    serial::init_console(opts.console_port);
    kprintln!();
    kprintln!("seL4-rs: booting (x86_64, pc99; multiboot {})", params.protocol);
    kprintln!("command line: \"{}\"", params.cmdline_str().trim());
    kprintln!("console on port {:#x}, debug port {:#x}", serial::console_port(), opts.debug_port);

    cpu::check_features()?;
    let mut brand = [0u8; 48];
    kprintln!("CPU: {}", cpu::model_name(&mut brand));
    gdt::init();
    idt::init();
    entry::set_kernel_cr3(arch_boot::boot_pml4_paddr());
    let skim_pages = paging::init_skim_window();
    kprintln!("skim window: {skim_pages} pages of kernel entry code and data");
    paging::init_uintr_window(arch_boot::boot_pdpt_high_paddr());
    init_uintr(&mut global.uintr_window, opts.uintr_emulate);
    cpu::init_syscall(entry::syscall_entry_addr());
    cpu::init_fpu();
    cpu::init_pat();
    cpu::init_smep_smap();
    let mut exit_fault_selftest = false;
    for word in params.cmdline_str().split_ascii_whitespace() {
        match word {
            "selftest=kernel_fault" => kernel_fault_selftest(),
            "selftest=exit_stub_fault" => exit_fault_selftest = true,
            "selftest=panic" => panic!("selftest: panic requested on the kernel command line"),
            _ => {}
        }
    }

    let (rsdp, madt) = discover_acpi(&params)?;
    apic::disable_legacy_pic();
    let ioapic_bases: arrayvec::ArrayVec<u32, 8> = madt.ioapics.iter().map(|i| i.paddr).collect();
    let pins = crate::arch::x86_64::ioapic::init(&ioapic_bases);
    for (io, pins) in madt.ioapics.iter().zip(pins) {
        kprintln!("  IOAPIC {} at {:#x}, GSI base {}, {pins} pins", io.id, io.paddr, io.gsi_base);
    }
    let (apic_mode, apic_id, apic_version) = apic::init_local_apic(madt.lapic_paddr);
    kprintln!("local APIC: id {apic_id}, version {apic_version:#x}, {} mode", apic_mode_name(apic_mode));

    let module = *params.modules.first().ok_or(BootError::NoModule)?;
    let in_ram = params.memory.iter().any(|e| e.kind == MMAP_TYPE_RAM && e.base <= module.start && module.end <= e.base.saturating_add(e.len));
    if !in_ram || module.end > PADDR_TOP {
        return Err(BootError::ModuleOutsideRam { start: module.start, end: module.end });
    }
    // Safety: the module lies in RAM inside the physical window (checked
    // above) and nothing writes to it while the slice is used.
    let file = unsafe { core::slice::from_raw_parts(paddr_to_pptr(module.start) as *const u8, (module.end - module.start) as usize) };
    let image = ElfImage::parse(file)?;
    let (tsc_mhz, tsc_source) = tsc::frequency(acpi::find_hpet(&PhysWindow, &rsdp));
    kprintln!("TSC: {tsc_mhz} MHz ({tsc_source})");
    machine_report(&params, &madt, apic_mode, apic_id, (tsc_mhz, tsc_source));
    let vbe = params.vbe.map(read_vbe);
    let extra =
        ExtraInputs { vbe: vbe.as_ref(), rsdp: Some(rsdp_bytes(&params, &rsdp)), framebuffer: params.framebuffer, memory: &params.memory, tsc_mhz };
    let extra_bits = extra_bootinfo::size_bits(extra.size());
    let plan = plan::plan(&params.memory, &params.modules, arch_boot::kernel_end_paddr(), image.v_start, image.v_end, extra_bits)?;
    kprintln!(
        "rootserver: {} bytes, entry {:#x}, image {:#x}..{:#x} at physical {:#x}",
        file.len(),
        image.entry,
        image.v_start,
        image.v_end,
        plan.image_paddr
    );

    // Safety: the plan placed the image and every object in free RAM that
    // nothing else uses, away from the kernel and the modules.
    unsafe {
        load_image(&image, &plan);
        create_rootserver(&mut global.asids, &image, &plan, &params, &madt, &extra)?;
    }
    Ok(exit_fault_selftest)
}

/// Deliberately faults inside the kernel so the tests can check the
/// kernel-fault report (kernel command line `selftest=kernel_fault`;
/// `selftest=panic` checks the panic path the same way).
fn kernel_fault_selftest() {
    kprintln!("selftest: touching an unmapped kernel address");
    // Safety: not safe at all; the fault handler reports and halts.
    unsafe { core::ptr::read_volatile(0x0000_1000_0000_0008 as *const u64) };
}

fn discover_acpi(params: &BootParams) -> Result<(acpi::Rsdp, acpi::Madt), BootError> {
    let rsdp = match &params.rsdp {
        Some(copy) => acpi::rsdp_at(&SliceMem { base: 0, bytes: copy }, 0),
        None => acpi::find_rsdp(&PhysWindow),
    }
    .ok_or(BootError::NoAcpi)?;
    // Safety: boot, single-threaded; nothing else holds the table.
    let cpus = unsafe { machine::BOOT_CPUS.get() };
    let madt = acpi::parse_madt(&PhysWindow, &rsdp, &mut |c| cpus.push(c))?;
    kprintln!(
        "ACPI: RSDP revision {}, {} CPU(s), local APIC at {:#x}, {} IOAPIC(s)",
        rsdp.revision,
        madt.cpus_enabled,
        madt.lapic_paddr,
        madt.ioapics.len()
    );
    if madt.ioapics_ignored > 0 {
        kprintln!("  {} more IOAPIC(s) listed beyond the {} this kernel drives", madt.ioapics_ignored, acpi::MAX_IOAPICS);
    }
    for o in madt.overrides.iter() {
        kprintln!(
            "  interrupt source override: IRQ {} on GSI {}, {}, {}",
            o.source,
            o.gsi,
            if o.level_triggered() { "level" } else { "edge" },
            if o.active_low() { "active low" } else { "active high" }
        );
    }
    Ok((rsdp, madt))
}

fn apic_mode_name(mode: apic::ApicMode) -> &'static str {
    match mode {
        apic::ApicMode::XApic => "xAPIC",
        apic::ApicMode::X2Apic => "x2APIC",
    }
}

/// The boot report of the machine, one `machine: ` line per fact, for
/// whoever reads a real server's console: what runs where, and what the
/// firmware handed over.
fn machine_report(params: &BootParams, madt: &acpi::Madt, apic_mode: apic::ApicMode, apic_id: u32, (tsc_mhz, tsc_source): (u32, tsc::TscSource)) {
    use core::arch::x86_64::__cpuid_count;
    let id = raw_cpuid::CpuId::new();
    let vendor = id.get_vendor_info();
    let (family, model, stepping) = id.get_feature_info().map_or((0, 0, 0), |f| (f.family_id(), f.model_id(), f.stepping_id()));
    let mut brand = [0u8; 48];
    kprintln!(
        "machine: CPU {} family {family:#x} model {model:#x} stepping {stepping} ({})",
        vendor.as_ref().map_or("unknown vendor", |v| v.as_str()),
        cpu::model_name(&mut brand)
    );
    // The SMT field's width: CPUID leaf 0xB (or 0x1F), level 0.
    let max_leaf = __cpuid_count(0, 0).eax;
    let smt_bits = [0x1f, 0xb]
        .into_iter()
        .filter(|&leaf| max_leaf >= leaf)
        .map(|leaf| __cpuid_count(leaf, 0))
        .find(|r| r.ebx & 0xffff != 0)
        .map_or(0, |r| r.eax & 0x1f);
    // Safety: boot, single-threaded; filled by `discover_acpi`.
    let cpus = unsafe { machine::BOOT_CPUS.get() };
    let (threads, cores) = machine::count_threads_and_cores(cpus.as_slice(), smt_bits);
    kprintln!(
        "machine: {threads} thread(s) in {cores} core(s) enabled in the MADT ({} listed, {} by x2APIC entries, highest APIC ID {}); this kernel runs on the boot CPU only",
        madt.cpus_listed + cpus.dropped,
        madt.x2apic_entries,
        madt.max_apic_id
    );
    kprintln!(
        "machine: APIC {} (as the firmware left it), boot CPU APIC ID {apic_id}; {} IOAPIC(s), {} interrupt source override(s){}",
        apic_mode_name(apic_mode),
        madt.ioapics.len(),
        madt.overrides.len(),
        if madt.pcat_compat { ", legacy PICs present (masked)" } else { "" }
    );
    if apic_id > 255 {
        kprintln!("machine: the boot CPU's APIC ID is above 255: IOAPIC interrupts cannot reach it without interrupt remapping");
    }
    kprintln!("machine: TSC {tsc_mhz} MHz, {tsc_source}");
    kprintln!("machine: user interrupts (UINTR) {}", if cpu::has_uintr() { "present in this CPU" } else { "absent from this CPU" });
    let port = serial::console_port();
    kprintln!("machine: console on {} (I/O port {port:#x}; console_port= chooses it)", machine::serial_port_name(port));
    match params.framebuffer.map(|t| machine::Framebuffer::parse(&t)) {
        Some(fb) => kprintln!(
            "machine: framebuffer {}x{}, {} bits per pixel, {}, at {:#x} (passed on in bootinfo)",
            fb.width,
            fb.height,
            fb.bpp,
            fb.kind_name(),
            fb.addr
        ),
        None => kprintln!("machine: no framebuffer from the loader"),
    }
    kprintln!(
        "machine: loaded by multiboot {}; {} memory map entries{}",
        params.protocol,
        params.memory.len(),
        if params.rsdp.is_some() { ", ACPI RSDP from the loader" } else { ", ACPI RSDP found in the BIOS area" }
    );
}

/// The RSDP as seL4 passes it on: the 36-byte ACPI 2.0 layout, read from
/// the loader's copy or from where the BIOS left it.
fn rsdp_bytes(params: &BootParams, rsdp: &acpi::Rsdp) -> [u8; extra_bootinfo::RSDP_BYTES] {
    let mut out = [0u8; extra_bootinfo::RSDP_BYTES];
    match &params.rsdp {
        Some(copy) => out[..copy.len()].copy_from_slice(copy),
        None => {
            let len = if rsdp.revision >= 2 { 36 } else { 20 };
            PhysWindow.read(rsdp.paddr, &mut out[..len]);
        }
    }
    out
}

/// Copies the VBE blocks a multiboot 1 loader pointed at into seL4's
/// `seL4_X86_BootInfo_VBE` body layout.
fn read_vbe(v: multiboot::VbeRefs) -> [u8; extra_bootinfo::VBE_BODY_BYTES] {
    let mut out = [0u8; extra_bootinfo::VBE_BODY_BYTES];
    PhysWindow.read(v.control_info as u64, &mut out[..512]);
    PhysWindow.read(v.mode_info as u64, &mut out[512..768]);
    let words = [v.mode as u32, v.interface_seg as u32, v.interface_off as u32, v.interface_len as u32];
    for (i, w) in words.iter().enumerate() {
        out[768 + i * 4..772 + i * 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// # Safety
/// `paddr..paddr + len` must be free RAM owned by the boot code.
unsafe fn zero(paddr: u64, len: u64) {
    // Safety: per the caller's contract.
    unsafe { core::ptr::write_bytes(paddr_to_pptr(paddr) as *mut u8, 0, len as usize) };
}

/// Copies the ELF segments to their physical home and zero-fills the rest.
///
/// # Safety
/// The plan's image region must be free RAM not overlapping the module.
unsafe fn load_image(image: &ElfImage<'_>, plan: &Plan) {
    // Safety: per the caller's contract.
    unsafe { zero(plan.image_paddr, image.span()) };
    for seg in image.segments() {
        let bytes = image.file_bytes(&seg);
        let dest = plan.image_paddr + (seg.vaddr - image.v_start);
        // Safety: the segment lies inside the image span (validated ELF).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), paddr_to_pptr(dest) as *mut u8, bytes.len()) };
    }
}

/// Fills the root CNode slot by slot, tracking the next free one.
struct RootCNode {
    pptr: u64,
    next: u64,
}

impl RootCNode {
    /// The root CNode at `pptr`, to be filled from the first slot after
    /// the fixed ones.
    ///
    /// # Safety
    /// `pptr` is a zeroed CNode of 2^`ROOT_CNODE_SIZE_BITS` slots that the
    /// boot code owns; nothing else writes to it while this value lives.
    unsafe fn new(pptr: u64) -> Self {
        RootCNode { pptr, next: root_slots::NUM_INITIAL_CAPS }
    }

    fn slot(&self, slot: u64) -> *mut Cte {
        (self.pptr + slot * (1 << SLOT_BITS)) as *mut Cte
    }

    /// Writes a boot cap as seL4 does: revocable and first-badged, so
    /// each heads its own derivation subtree.
    fn write(&mut self, slot: u64, cap: Cap) {
        assert!(slot < 1 << sel4_compat::ROOT_CNODE_SIZE_BITS, "boot cap slot {slot} outside the root CNode");
        let null = core::ptr::null_mut();
        // Safety: `slot` is inside the CNode (asserted), which is ours
        // (`new`'s contract).
        unsafe { self.slot(slot).write(Cte { cap, mdb: MdbNode::new(null, true, true, null) }) };
    }

    /// Writes the next boot cap. The caps were counted against the
    /// CNode's size before anything was built (`InitialCaps::check`).
    fn push(&mut self, cap: Cap) -> u64 {
        let slot = self.next;
        assert!(slot < 1 << sel4_compat::ROOT_CNODE_SIZE_BITS, "more boot caps than were counted");
        self.write(slot, cap);
        self.next += 1;
        slot
    }
}

/// The pages of extra bootinfo (none when `plan.extra_bits` is 0).
fn extra_pages(plan: &Plan) -> u64 {
    if plan.extra_bits > 0 {
        1u64 << (plan.extra_bits - PAGE_BITS)
    } else {
        0
    }
}

/// The rootserver's cap to the small frame at `paddr`, mapped at `vaddr`.
fn mapped_frame(paddr: u64, vaddr: u64) -> Cap {
    Cap::frame(paddr_to_pptr(paddr), FrameSize::Small, vm_rights::READ_WRITE, false, Some((IT_ASID, vaddr)))
}

/// What stays out of the untypeds although it is not RAM: the local
/// APIC, the MSI doorbell range and the I/O APICs, which the kernel
/// drives itself.
fn kernel_device_regions(madt: &acpi::Madt) -> arrayvec::ArrayVec<Region, 10> {
    let mut kernel_devices = arrayvec::ArrayVec::new();
    kernel_devices.push(Region::new(madt.lapic_paddr, madt.lapic_paddr + PAGE_SIZE));
    // seL4 keeps the MSI doorbell range out of user hands.
    kernel_devices.push(Region::new(0xffff_fff8, 0x1_0000_0000));
    for io in madt.ioapics.iter() {
        let _ = kernel_devices.try_push(Region::new(io.paddr as u64, io.paddr as u64 + PAGE_SIZE));
    }
    kernel_devices
}

/// Clears every object of the plan and writes the extra bootinfo.
///
/// # Safety
/// Every object address in `plan` must be free RAM owned by the boot code.
unsafe fn clear_objects(plan: &Plan, extra: &ExtraInputs<'_>) {
    // Safety: per the caller's contract.
    unsafe {
        zero(plan.cnode, 1 << plan::ROOT_CNODE_BITS);
        zero(plan.vspace, PAGE_SIZE);
        zero(plan.tcb, 1 << TCB_BITS);
        zero(plan.asid_pool, 1 << ASID_POOL_BITS);
        zero(plan.ipc_buffer, PAGE_SIZE);
        zero(plan.bootinfo, PAGE_SIZE);
    }
    if plan.extra_bits > 0 {
        // Safety: per the caller's contract, the extra bootinfo region is
        // ours; it is zeroed before the slice over it is made.
        let region = unsafe {
            zero(plan.extra, 1 << plan.extra_bits);
            core::slice::from_raw_parts_mut(paddr_to_pptr(plan.extra) as *mut u8, 1 << plan.extra_bits)
        };
        extra.write(region);
    }
    // Safety: per the caller's contract.
    unsafe { zero(plan.paging.base, plan.paging.frames() * PAGE_SIZE) };
}

/// Builds the rootserver's address space: the kernel's part, then the
/// image, the IPC buffer, the bootinfo and the extra bootinfo pages.
///
/// # Safety
/// The plan's VSpace and paging frames are zeroed pages owned by the boot
/// code, and its user addresses lie in the range the paging frames cover.
unsafe fn build_vspace(image: &ElfImage<'_>, plan: &Plan) {
    // Safety: per the caller's contract, the VSpace is a zeroed page of ours.
    unsafe { paging::copy_kernel_mappings(plan.vspace) };
    let map = |vaddr: u64, paddr: u64| {
        // Safety: the VSpace and table frames are ours; every address
        // mapped lies in the plan's user range (caller's contract).
        unsafe { paging::map_user_page(plan.vspace, vaddr, paddr, &plan.paging) }
    };
    for vaddr in (image.v_start..image.v_end).step_by(PAGE_SIZE as usize) {
        map(vaddr, plan.image_paddr + (vaddr - image.v_start));
    }
    map(plan.ipc_buffer_vaddr, plan.ipc_buffer);
    map(plan.bootinfo_vaddr, plan.bootinfo);
    for i in 0..extra_pages(plan) {
        map(plan.extra_vaddr + i * PAGE_SIZE, plan.extra + i * PAGE_SIZE);
    }
}

/// The caps in seL4's fixed slots of the root CNode.
fn write_fixed_caps(cnode: &mut RootCNode, plan: &Plan) {
    let radix = sel4_compat::ROOT_CNODE_SIZE_BITS as u32;
    let cnode_cap = Cap::cnode(cnode.pptr, radix, 64 - radix, 0);
    cnode.write(root_slots::INIT_THREAD_TCB, Cap::thread(paddr_to_pptr(plan.tcb) + TCB_OFFSET));
    cnode.write(root_slots::INIT_THREAD_CNODE, cnode_cap);
    cnode.write(root_slots::INIT_THREAD_VSPACE, Cap::pml4(paddr_to_pptr(plan.vspace), IT_ASID, true));
    cnode.write(root_slots::IRQ_CONTROL, Cap::irq_control());
    cnode.write(root_slots::ASID_CONTROL, Cap::asid_control());
    cnode.write(root_slots::INIT_THREAD_ASID_POOL, Cap::asid_pool(paddr_to_pptr(plan.asid_pool), 0));
    cnode.write(root_slots::IO_PORT_CONTROL, Cap::io_port_control());
    cnode.write(root_slots::BOOT_INFO_FRAME, mapped_frame(plan.bootinfo, plan.bootinfo_vaddr));
    cnode.write(root_slots::INIT_THREAD_IPC_BUFFER, mapped_frame(plan.ipc_buffer, plan.ipc_buffer_vaddr));
    cnode.write(root_slots::DOMAIN, Cap::domain());
}

/// The slot regions bootinfo reports for the caps of the address space.
struct ImageCaps {
    paging: SlotRegion,
    extra_pages: SlotRegion,
    frames: SlotRegion,
}

/// The caps of the rootserver's address space, in seL4's order: paging
/// structures (PDPTs, then directories, then tables), the extra bootinfo
/// pages, the image frames.
fn push_image_caps(cnode: &mut RootCNode, image: &ElfImage<'_>, plan: &Plan) -> ImageCaps {
    let paging_start = cnode.next;
    for (covers, frame, vaddr) in plan.paging.tables() {
        let kind = match covers {
            39 => CapType::Pdpt,
            30 => CapType::PageDirectory,
            _ => CapType::PageTable,
        };
        cnode.push(Cap::paging(kind, paddr_to_pptr(frame), IT_ASID, Some(vaddr)));
    }
    let paging = SlotRegion { start: paging_start, end: cnode.next };
    let extra_start = cnode.next;
    for i in 0..extra_pages(plan) {
        cnode.push(mapped_frame(plan.extra + i * PAGE_SIZE, plan.extra_vaddr + i * PAGE_SIZE));
    }
    let extra_pages = SlotRegion { start: extra_start, end: cnode.next };
    let frames_start = cnode.next;
    for vaddr in (image.v_start..image.v_end).step_by(PAGE_SIZE as usize) {
        cnode.push(mapped_frame(plan.image_paddr + (vaddr - image.v_start), vaddr));
    }
    let frames = SlotRegion { start: frames_start, end: cnode.next };
    ImageCaps { paging, extra_pages, frames }
}

/// The untyped caps, last in the root CNode, each also described in
/// bootinfo; returns the bytes of RAM and of device memory they cover.
fn push_untypeds(cnode: &mut RootCNode, untypeds: &[UntypedBlock], bi: &mut BootInfo) -> (u64, u64) {
    let untyped_start = cnode.next;
    let (mut ram_bytes, mut device_bytes) = (0u64, 0u64);
    for (i, u) in untypeds.iter().enumerate() {
        let pptr = crate::config::PPTR_BASE.wrapping_add(u.paddr);
        cnode.push(Cap::untyped(pptr, u.size_bits, u.is_device, max_free_index(u.size_bits)));
        bi.untyped_list[i] = UntypedDesc { paddr: u.paddr, size_bits: u.size_bits as u8, is_device: u.is_device as u8, padding: [0; 6] };
        if u.is_device {
            device_bytes += 1 << u.size_bits;
        } else {
            ram_bytes += 1 << u.size_bits;
        }
    }
    bi.untyped = SlotRegion { start: untyped_start, end: cnode.next };
    (ram_bytes, device_bytes)
}

/// The rest of bootinfo, once every cap is in the root CNode.
fn fill_bootinfo(bi: &mut BootInfo, cnode: &RootCNode, image_caps: ImageCaps, plan: &Plan, extra: &ExtraInputs<'_>) {
    bi.extra_len = extra.size() as u64;
    bi.node_id = 0;
    bi.num_nodes = 1;
    // seL4 without an IOMMU reports -1.
    bi.num_iopt_levels = u64::MAX;
    bi.ipc_buffer = plan.ipc_buffer_vaddr;
    bi.empty = SlotRegion { start: cnode.next, end: 1 << sel4_compat::ROOT_CNODE_SIZE_BITS };
    bi.user_image_frames = image_caps.frames;
    bi.user_image_paging = image_caps.paging;
    bi.extra_bi_pages = image_caps.extra_pages;
    bi.init_thread_cnode_size_bits = sel4_compat::ROOT_CNODE_SIZE_BITS as u64;
    bi.init_thread_domain = 0;
}

/// Makes the plan's ASID pool pool 0, with `IT_ASID` naming the VSpace.
///
/// # Safety
/// The plan's ASID pool is a zeroed object owned by the boot code.
unsafe fn install_asid_pool(asids: &mut vspace::AsidTable, plan: &Plan) {
    // Safety: per the caller's contract; entry IT_ASID is inside the pool.
    unsafe { ((paddr_to_pptr(plan.asid_pool)) as *mut u64).add(IT_ASID as usize).write(paddr_to_pptr(plan.vspace)) };
    asids.set_pool(0, paddr_to_pptr(plan.asid_pool));
}

/// Creates the rootserver's thread, ready to run at `image.entry` with
/// the bootinfo address in RDI, and makes it the current thread.
///
/// # Safety
/// The plan's TCB is a zeroed object owned by the boot code, and the
/// root CNode's fixed slots are filled (`write_fixed_caps`).
unsafe fn create_initial_thread(image: &ElfImage<'_>, plan: &Plan, cnode: &RootCNode) {
    let tcb_ptr = (paddr_to_pptr(plan.tcb) + TCB_OFFSET) as *mut Tcb;
    // Safety: the TCB object is ours, zeroed, aligned and big enough
    // (caller's contract).
    let tcb = unsafe {
        thread::init_tcb(tcb_ptr, b"rootserver");
        &mut *tcb_ptr
    };
    tcb.ctx = UserContext::new_user(image.entry);
    tcb.ctx.regs.rdi = plan.bootinfo_vaddr;
    tcb.priority = sel4_compat::MAX_PRIO as u8;
    tcb.mcp = sel4_compat::MAX_PRIO as u8;
    tcb.ipc_buffer_vaddr = plan.ipc_buffer_vaddr;
    for (from, to) in [
        (root_slots::INIT_THREAD_CNODE, tcb_slot::CTABLE),
        (root_slots::INIT_THREAD_VSPACE, tcb_slot::VTABLE),
        (root_slots::INIT_THREAD_IPC_BUFFER, tcb_slot::BUFFER),
    ] {
        let src = cnode.slot(from);
        // Safety: the root CNode slots named are filled (caller's
        // contract) and the new TCB's slots are empty.
        unsafe {
            // The buffer cap is derived, as a copy would be: unmapped.
            let cap = match (*src).cap.as_frame() {
                Some(frame) if to == tcb_slot::BUFFER => frame.unmapped().cap(),
                _ => (*src).cap,
            };
            cte::cte_insert(cap, src, tcb.slot(to));
        }
    }
    tcb.state = thread::ThreadState::Running;
    crate::object::reply::setup_reply_master(tcb);
    // Safety: `tcb_ptr` is the TCB just initialised.
    unsafe { crate::sched::set_current(tcb_ptr) };
}

/// Starts the preemption timer, if the TSC could be measured.
fn start_timer(tsc_mhz: u32) {
    if tsc_mhz == 0 {
        kprintln!("timer: not started (the TSC could not be measured); threads are not preempted");
    } else {
        let mode = apic::start_timer(crate::config::TIMER_TICK_MS as u64 * 1000, tsc_mhz as u64, cpu::has_tsc_deadline());
        kprintln!("timer: {} ms ticks, {:?}", crate::config::TIMER_TICK_MS, mode);
    }
}

/// Checks that the rootserver's address space shows user mode nothing of
/// the kernel but the skim window and the UINTR window.
///
/// # Safety
/// `pml4_paddr` is the rootserver's PML4, just built.
unsafe fn check_kernel_pages_visible(pml4_paddr: u64) {
    // Safety: per the caller's contract.
    let visible = unsafe { paging::kernel_pages_visible(pml4_paddr) };
    let uintr_pages = paging::uintr_window_pages();
    kprintln!("skim window: {visible} kernel pages visible in user mode ({uintr_pages} of them UPIDs and UITTs)");
    assert_eq!(visible, paging::skim_window_pages() + uintr_pages, "user address spaces must map only the skim window and the UINTR window");
}

/// Builds the initial thread: address space, root CNode, bootinfo, TCB.
///
/// # Safety
/// Every object address in `plan` must be free RAM owned by the boot code.
unsafe fn create_rootserver(
    asids: &mut vspace::AsidTable,
    image: &ElfImage<'_>,
    plan: &Plan,
    params: &BootParams,
    madt: &acpi::Madt,
    extra: &ExtraInputs<'_>,
) -> Result<(), BootError> {
    let untypeds = plan::untyped_blocks(&params.memory, &plan.free, &kernel_device_regions(madt));
    plan::InitialCaps { untypeds: untypeds.len() as u64, ..plan.caps }.check(sel4_compat::ROOT_CNODE_SIZE_BITS as u32)?;

    // Safety: the plan's objects are ours (caller's contract); the paging
    // frames cover the plan's user range (the plan sized them for it).
    unsafe {
        clear_objects(plan, extra);
        build_vspace(image, plan);
    }

    // Safety: the root CNode was just zeroed and is ours.
    let mut cnode = unsafe { RootCNode::new(paddr_to_pptr(plan.cnode)) };
    write_fixed_caps(&mut cnode, plan);
    let image_caps = push_image_caps(&mut cnode, image, plan);
    // Safety: the bootinfo frame is ours, zeroed, and BootInfo fits in it.
    let bi = unsafe { &mut *(paddr_to_pptr(plan.bootinfo) as *mut BootInfo) };
    let (ram_bytes, device_bytes) = push_untypeds(&mut cnode, &untypeds, bi);
    fill_bootinfo(bi, &cnode, image_caps, plan, extra);

    // Safety: the ASID pool and the TCB were just zeroed and are ours; the
    // root CNode's fixed slots were just filled.
    unsafe {
        install_asid_pool(asids, plan);
        create_initial_thread(image, plan, &cnode);
    }

    kprintln!(
        "bootinfo at {:#x}, IPC buffer at {:#x}; {} untyped caps ({} MiB RAM, {} GiB device), empty slots {}..{}",
        plan.bootinfo_vaddr,
        plan.ipc_buffer_vaddr,
        bi.untyped.len(),
        ram_bytes >> 20,
        device_bytes >> 30,
        bi.empty.start,
        bi.empty.end
    );
    start_timer(extra.tsc_mhz);
    // Safety: the rootserver's PML4 was just built.
    unsafe { check_kernel_pages_visible(plan.vspace) };
    kprintln!("starting the rootserver in user mode");
    Ok(())
}
