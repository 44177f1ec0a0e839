//! The `keel` binary (placeholder until the loop lands).
fn main() {
    eprintln!("keel: the business-logic loop is not built yet");
    std::process::exit(2);
}
