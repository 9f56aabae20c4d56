//! Generate a synthetic Cargo workspace for measuring `cargo xtask coverage` (see
//! `docs/BENCHMARKS.md`): `crates` members, each a tree of modules whose files mix audited
//! functions (all five attributes, with options), unaudited decision points found by each kind
//! of rule, impl blocks with LLM client calls, trait impls and ordinary code.
//!
//! ```text
//! cargo run -p xtask --example gen_coverage_workspace -- <dir> [lines, default 100000] [crates, default 10]
//! ```

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

/// One module file of about 250 lines; `i` varies names so audit names stay unique.
fn module_source(krate: usize, i: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "//! Generated module {i} of crate {krate}.");
    let _ = writeln!(
        s,
        "use audit_runtime::{{audited_decision, audited_tool as tool}};"
    );
    let _ = writeln!(s, "use llm::ChatClient;\n");
    let _ = writeln!(
        s,
        "pub struct Agent{i} {{\n    client: ChatClient,\n    limit: u64,\n    name: String,\n}}\n"
    );
    let _ = writeln!(
        s,
        "pub trait Tool {{\n    fn call(&self, input: &str) -> String;\n}}\n"
    );
    for j in 0..4 {
        let _ = writeln!(
            s,
            r#"#[audited_decision(
    name = "c{krate}.m{i}.approve{j}",
    model = "scorer",
    model_version = "2.{j}.0",
    policy = "lending",
    policy_version = "7",
    capture(amount, applicant_email),
    redact(applicant_email = mask(4))
)]
pub fn approve_{j}(amount: u64, applicant_email: &str) -> Result<bool, String> {{
    if applicant_email.is_empty() {{
        return Err("no email".to_owned());
    }}
    let mut score = 0u64;
    for k in 0..amount % 17 {{
        score = score.wrapping_add(k * 31 + {j});
    }}
    Ok(score % 2 == 0 && amount < 10_000)
}}

#[tool(name = "c{krate}.m{i}.lookup{j}", side_effect = read)]
pub fn lookup_{j}(id: u64) -> Option<u64> {{
    match id % 4 {{
        0 => Some(id),
        1 => Some(id * 2),
        2 => None,
        _ => Some(id + {j}),
    }}
}}

pub fn decide_route_{j}(topic: &str) -> u8 {{
    let bytes = topic.as_bytes();
    let mut acc = 0u8;
    for b in bytes {{
        acc = acc.wrapping_add(*b);
    }}
    acc % 5
}}

// audit: exempt(reason = "formatting only")
pub fn decide_format_{j}(x: f64) -> String {{
    format!("{{x:.2}}")
}}
"#
        );
    }
    let _ = writeln!(
        s,
        r#"impl Agent{i} {{
    pub fn summarize(&self, text: &str) -> String {{
        self.client.chat(text)
    }}

    #[audit_runtime::audited_model_call(name = "c{krate}.m{i}.ask", model = "gpt-x", model_version = "2024-05")]
    pub fn ask(&self, question: &str) -> String {{
        let q = question.trim();
        self.client.chat(q)
    }}

    pub fn helper(&self) -> usize {{
        self.name.len() + self.limit as usize
    }}
}}

pub struct Search{i};

impl Tool for Search{i} {{
    fn call(&self, input: &str) -> String {{
        input.chars().rev().collect()
    }}
}}
"#
    );
    while s.lines().count() < 245 {
        let n = s.lines().count();
        let _ = writeln!(
            s,
            "pub fn helper_{n}(values: &[u64]) -> u64 {{\n    values.iter().copied().filter(|v| v % 3 == 0).sum::<u64>() + {n}\n}}\n"
        );
    }
    s
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(
        args.first()
            .context("usage: gen_coverage_workspace <dir> [lines] [crates]")?,
    );
    let lines: usize = args
        .get(1)
        .map_or(Ok(100_000), |s| s.parse())
        .context("lines")?;
    let crates: usize = args
        .get(2)
        .map_or(Ok(10), |s| s.parse())
        .context("crates")?;
    let per_file = module_source(0, 0).lines().count();
    let files = lines.div_ceil(per_file);
    let per_crate = files.div_ceil(crates);
    let members: Vec<String> = (0..crates).map(|c| format!("\"c{c}\"")).collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )?;
    std::fs::write(
        dir.join("audit.toml"),
        "[coverage]\nfunctions = [\"decide_*\"]\nllm_clients = [\"llm::ChatClient\"]\ntool_traits = [\"Tool\"]\n",
    )?;
    let mut total = 0;
    for c in 0..crates {
        let src = dir.join(format!("c{c}/src"));
        std::fs::create_dir_all(src.join("m"))?;
        std::fs::write(
            dir.join(format!("c{c}/Cargo.toml")),
            format!(
                "[package]\nname = \"c{c}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\naudit-runtime = \"0.1\"\n"
            ),
        )?;
        std::fs::write(src.join("lib.rs"), "pub mod m;\n")?;
        let mut m = String::new();
        for i in 0..per_crate {
            let _ = writeln!(m, "pub mod f{i};");
            let text = module_source(c, i);
            total += text.lines().count();
            std::fs::write(src.join(format!("m/f{i}.rs")), text)?;
        }
        std::fs::write(src.join("m.rs"), m)?;
    }
    println!(
        "{} crates, {} files, {total} lines in {}",
        crates,
        crates * per_crate,
        dir.display()
    );
    Ok(())
}
