//! Helpdesk fixture.
pub mod handlers {
    use audit_runtime::*;

    #[audited_tool(side_effect = write, capture(phone, customer_email))]
    pub fn handle_callback(phone: &str, customer_email: &str) -> bool {
        !phone.is_empty() && !customer_email.is_empty()
    }

    pub fn handle_refund(amount: u64) -> bool {
        amount < 50
    }
}
