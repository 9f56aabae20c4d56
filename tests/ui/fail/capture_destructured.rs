use audit_runtime::audited_tool;

#[audited_tool(capture(lat))]
fn locate((lat, lon): (f64, f64)) -> f64 {
    lat + lon
}

fn main() {}
