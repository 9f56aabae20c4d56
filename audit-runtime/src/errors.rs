//! Naming the concrete type behind a `dyn Error`.
//!
//! A record says what type an `Err` had (`error_type`, from the expansion site). Behind a trait
//! object (`Box<dyn Error>`, `anyhow::Error`) and down an error's `source()` chain the static type
//! says nothing, and Rust cannot name the type of a trait object in general: only a downcast to
//! a type named in advance can tell. So the runtime tries the error types of `std` that agents
//! meet most, plus every type the application registers with [`register_error_type`], and
//! records the name of the first that matches (`error_dyn_type`, `error_sources[].type`). A type
//! that is neither is left unnamed rather than guessed.

use std::error::Error;
use std::sync::RwLock;

/// A downcast test and the name it stands for.
type Probe = (fn(&(dyn Error + 'static)) -> bool, &'static str);

fn is<E: Error + 'static>(e: &(dyn Error + 'static)) -> bool {
    e.is::<E>()
}

macro_rules! builtins {
    ($($t:ty),* $(,)?) => { &[$((is::<$t>, std::any::type_name::<$t>)),*] };
}

/// A downcast test and the function that names it: `type_name` is not `const`, so the table
/// holds the functions that produce the names.
type BuiltinProbe = (fn(&(dyn Error + 'static)) -> bool, fn() -> &'static str);

static BUILTIN: &[BuiltinProbe] = builtins![
    std::io::Error,
    std::fmt::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::Utf8Error,
    std::string::FromUtf8Error,
    std::str::ParseBoolError,
    std::char::ParseCharError,
    std::net::AddrParseError,
    std::time::SystemTimeError,
    std::sync::mpsc::RecvError,
    std::array::TryFromSliceError,
    std::env::VarError,
    serde_json::Error,
];

static REGISTERED: RwLock<Vec<Probe>> = RwLock::new(Vec::new());

/// Let records name `E` when it stands behind a `dyn Error` or in a `source()` chain. Call it
/// once at start-up for the application's own error types; registering a type twice is
/// harmless.
pub fn register_error_type<E: Error + 'static>() {
    let name = std::any::type_name::<E>();
    let mut registered = REGISTERED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !registered.iter().any(|(_, n)| *n == name) {
        registered.push((is::<E>, name));
    }
}

/// The name of `err`'s concrete type, when it is one of the types above.
pub(crate) fn identify(err: &(dyn Error + 'static)) -> Option<&'static str> {
    if let Some((_, name)) = BUILTIN.iter().find(|(test, _)| test(err)) {
        return Some(name());
    }
    let registered = REGISTERED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registered
        .iter()
        .find(|(test, _)| test(err))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Mine;
    impl std::fmt::Display for Mine {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("mine")
        }
    }
    impl Error for Mine {}

    #[test]
    fn names_std_and_registered_types_only() {
        let io: Box<dyn Error> = Box::new(std::io::Error::other("x"));
        assert_eq!(identify(io.as_ref()), Some("std::io::error::Error"));
        let mine: Box<dyn Error> = Box::new(Mine);
        assert_eq!(identify(mine.as_ref()), None);
        register_error_type::<Mine>();
        register_error_type::<Mine>();
        assert_eq!(identify(mine.as_ref()), Some(std::any::type_name::<Mine>()));
    }
}
