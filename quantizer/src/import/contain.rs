//! Containment of panics inside tract. An ONNX file is untrusted input, and tract (a large
//! dependency) can still panic on a graph it does not expect (an `If` whose branches disagree, an
//! index out of bounds in an evaluation). Every call into tract during an import goes through
//! [`contained`], so such a panic becomes an error naming what was being done instead of aborting
//! `ferrite quantize`.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs a contained call: the quiet hook then stays silent.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err(message)`.
///
/// Unwind safety: `f` only reads the caller's state or builds values the caller drops when an
/// error comes back, so nothing half-updated is used after a panic.
pub(crate) fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = INSIDE.with(|c| c.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|c| c.set(was));
    r.map_err(|payload| format!("internal error in the ONNX importer (a panic, contained): {}", message(&*payload)))
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

/// Installs (once) a panic hook that keeps quiet about panics [`contained`] turns into errors,
/// and reports every other panic as the previous hook did. Command-line tools call this so that a
/// contained panic shows only as the error it becomes.
pub fn quiet_contained_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !INSIDE.with(|c| c.get()) {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        quiet_contained_panics();
        let r: Result<(), String> = contained(|| panic!("index out of bounds: the len is 1 but the index is 1"));
        let e = r.unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
        assert_eq!(contained(|| 7), Ok(7));
        // The flag is restored: a later panic outside is not hidden (checked by the flag itself).
        assert!(!INSIDE.with(|c| c.get()));
    }
}
