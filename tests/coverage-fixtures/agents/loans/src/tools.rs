//! Tools: trait impls, trait default methods, foreign tool attributes, cfg_attr.
pub trait Tool {
    fn call(&self, input: &str) -> String;
    fn describe(&self) -> String {
        "tool".to_owned()
    }
}

pub struct Search;

impl Tool for Search {
    #[audit_runtime::audited_tool(side_effect = read)]
    fn call(&self, input: &str) -> String {
        input.to_owned()
    }

    fn describe(&self) -> String {
        "search".to_owned()
    }
}

pub struct Email;

impl Tool for Email {
    fn call(&self, input: &str) -> String {
        input.to_owned()
    }
}

pub trait Planner {
    #[audit_runtime::audited_decision(unversioned = "default plan")]
    fn choose(&self) -> u8 {
        0
    }
}

#[toolkit::tool]
pub fn web_fetch(url: &str) -> String {
    url.to_owned()
}

#[cfg_attr(feature = "audit", audit_runtime::audited_tool(side_effect = write))]
pub fn save(record: &str) -> usize {
    record.len()
}
