//! Two agents built from one generic type: the same method name in each impl is two points.

use audit_runtime::audited_decision;

pub struct Fast;
pub struct Careful;
pub struct Agent<M>(pub M);

impl Agent<Fast> {
    #[audited_decision(unversioned = "fixture")]
    pub fn decide_route(&self, q: &str) -> usize {
        q.len()
    }
}

impl Agent<Careful> {
    pub fn decide_route(&self, q: &str) -> usize {
        q.len() * 2
    }
}

/// Arguments with a comma: LCOV cannot carry a comma in a function name.
pub struct Pair<A, B>(pub A, pub B);

impl Pair<u8, u16> {
    pub fn decide_pair(&self) -> u32 {
        u32::from(self.0) + u32::from(self.1)
    }
}

impl Pair<u16, u8> {
    pub fn decide_pair(&self) -> u32 {
        u32::from(self.0) * u32::from(self.1)
    }
}

/// One impl only: its id keeps the plain form `router::Wrapper::decide_once`.
pub struct Wrapper<T>(pub T);

impl<T: Clone> Wrapper<T> {
    pub fn decide_once(&self) -> T {
        self.0.clone()
    }
}

pub trait Tool {
    fn call(&self, input: &str) -> String;
}

impl Tool for Agent<Fast> {
    fn call(&self, input: &str) -> String {
        input.to_owned()
    }
}

impl Tool for Agent<Careful> {
    fn call(&self, input: &str) -> String {
        input.to_uppercase()
    }
}

/// The same type, two instances of one generic trait.
pub struct Route(pub u64);

impl From<u8> for Route {
    fn from(v: u8) -> Route {
        Route(v.into())
    }
}

impl From<&'static str> for Route {
    fn from(v: &'static str) -> Route {
        Route(v.len() as u64)
    }
}

/// The same function under two cfgs: nothing in the signature tells them apart.
#[cfg(unix)]
pub fn decide_platform() -> &'static str {
    "unix"
}

#[cfg(not(unix))]
pub fn decide_platform() -> &'static str {
    "other"
}
