//! The tool trait through the crate's own re-export of it.
use crate::prelude::Tool;

pub struct Mail;

impl Tool for Mail {
    fn call(&self) -> u8 {
        0
    }
}
