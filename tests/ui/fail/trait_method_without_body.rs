use audit_runtime::audited_tool;

trait Tool {
    #[audited_tool]
    fn call(&self, q: &str) -> String;
}

fn main() {}
