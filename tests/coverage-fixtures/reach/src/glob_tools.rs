//! The tool trait through a glob import of the defining crate.
use toolkit::*;

pub struct Web;

impl Tool for Web {
    fn call(&self) -> u8 {
        0
    }
}
