//! The calling thread's IPC buffer (seL4 keeps its address in a
//! thread-local; a rootserver has one thread until it makes more).

use crate::IpcBuffer;
use core::sync::atomic::{AtomicPtr, Ordering};

static IPC_BUFFER: AtomicPtr<IpcBuffer> = AtomicPtr::new(core::ptr::null_mut());

/// Records where this thread's IPC buffer is mapped.
///
/// # Safety
/// `buffer` must point to the thread's mapped, writable IPC buffer.
pub unsafe fn set_ipc_buffer(buffer: *mut IpcBuffer) {
    IPC_BUFFER.store(buffer, Ordering::Relaxed);
}

/// The IPC buffer pointer recorded by the runtime.
pub fn ipc_buffer_ptr() -> *mut IpcBuffer {
    IPC_BUFFER.load(Ordering::Relaxed)
}

/// Runs `f` with the IPC buffer.
///
/// # Panics
/// If no IPC buffer was recorded.
pub fn with_ipc_buffer<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    let p = ipc_buffer_ptr();
    assert!(!p.is_null(), "no IPC buffer recorded for this thread");
    // Safety: `set_ipc_buffer`'s contract; one thread, so no other
    // reference to the buffer exists while `f` runs.
    f(unsafe { &mut *p })
}
