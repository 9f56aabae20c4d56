//! Ticket triage: one audited decision, one tool, one decision nobody audited yet.

/// A tool of the agent.
pub trait Tool {
    /// Run the tool.
    fn call(&self, input: &str) -> String;
}

/// Route a ticket (audited through the renamed dependency `audit`).
#[audit::audited_decision(name = "triage.route", policy = "routing", policy_version = "3")]
pub fn decide_route(priority: u8) -> &'static str {
    if priority > 2 { "urgent" } else { "normal" }
}

/// Escalate or not: a decision point without audit.
pub fn decide_escalation(waited_hours: u32) -> bool {
    waited_hours > 48
}

/// Looks tickets up.
pub struct Lookup;

impl Tool for Lookup {
    #[audit::audited_tool(side_effect = read)]
    fn call(&self, input: &str) -> String {
        input.to_owned()
    }
}
