//! The synchronization primitives of the lock-free code ([`crate::ring`]), from `std` or, when
//! built with `--cfg loom`, from [loom], whose model checker then runs that very code under
//! every interleaving (and every outcome the memory model allows) of a test's threads
//! (`cargo xtask loom`).
//!
//! [loom]: https://docs.rs/loom/0.7
//!
//! The code is the same under both: loom's [`UnsafeCell`] lends its contents only through
//! closures (`with`, `with_mut`), so that it can check each access against the others, and the
//! `std` build uses a wrapper with the same two methods, inlined away.

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

/// `std`'s `UnsafeCell` with loom's interface: the contents are reached through a pointer that
/// lives only as long as a closure.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Call `f` with a pointer for reading the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Call `f` with a pointer for writing the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
