//! Support agent fixture: the audit crate renamed in Cargo.toml.
use audit::audited_agent;

#[audited_agent]
fn run() {
    reply("hi");
}

#[audit::audited_tool(side_effect = none)]
fn reply(text: &str) -> usize {
    text.len()
}

fn decide_route(topic: &str) -> u8 {
    topic.len() as u8
}

// audit: exempt(reason = "renders a <b>banner</b> & \"nothing else\"")
fn decide_banner() -> &'static str {
    "hello"
}

#[test]
fn decide_in_test() {}

fn main() {
    run();
    decide_route("billing");
}
