use audit_runtime::audited_model_call;

#[audited_model_call(prompt = "summarize", prompt_version = "3")]
fn summarize(text: &str) -> String {
    text.chars().take(10).collect()
}

fn main() {}
