//! The calling thread's IPC buffer. As in seL4's runtimes its address is
//! thread-local: the first word of the block the FS base points at, so
//! every thread of a program finds its own buffer.

use crate::IpcBuffer;

/// A thread's TLS block: word 0 is its IPC buffer address, word 1 the
/// block's own address (so a thread can find and restore it).
#[repr(C, align(16))]
pub struct TlsBlock {
    pub words: [u64; 8],
}

impl TlsBlock {
    pub const fn new() -> Self {
        TlsBlock { words: [0; 8] }
    }
}

impl Default for TlsBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// Makes `tls` this thread's TLS block and records its IPC buffer.
///
/// # Safety
/// `tls` must stay valid (and used by this thread only) for the rest of the
/// thread's life; `buffer` must be the thread's mapped IPC buffer.
pub unsafe fn init_thread(tls: *mut TlsBlock, buffer: *mut IpcBuffer) {
    // Safety: per the caller's contract.
    unsafe {
        (*tls).words[0] = buffer as u64;
        (*tls).words[1] = tls as u64;
    }
    crate::arch::set_tls_base(tls as u64);
}

/// This thread's TLS block, as installed by [`init_thread`].
pub fn tls_block() -> *mut TlsBlock {
    crate::arch::read_fs_word(8) as *mut TlsBlock
}

/// Records where this thread's IPC buffer is mapped (the TLS block must
/// be set up).
///
/// # Safety
/// `buffer` must point to the thread's mapped, writable IPC buffer.
pub unsafe fn set_ipc_buffer(buffer: *mut IpcBuffer) {
    crate::arch::write_fs_word(0, buffer as u64);
}

/// This thread's IPC buffer pointer (null before the runtime set it).
pub fn ipc_buffer_ptr() -> *mut IpcBuffer {
    crate::arch::read_fs_word(0) as *mut IpcBuffer
}

/// Runs `f` with the IPC buffer.
///
/// # Panics
/// If no IPC buffer was recorded.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    let p = ipc_buffer_ptr();
    assert!(!p.is_null(), "no IPC buffer recorded for this thread");
    // Safety: `set_ipc_buffer`'s contract; the buffer belongs to this thread
    // and no other reference to it is live while `f` runs.
    f(unsafe { &mut *p })
}
