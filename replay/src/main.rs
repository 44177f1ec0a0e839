use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// The journal reader hands each record's payload over in its own `Vec`, a
/// commit batch at a time; glibc would give the freed batch back to the
/// kernel and fault it in again for the next one (a quarter of a replay's
/// time). Keep freed memory instead.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = keel_replay::cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = keel_replay::run(cli, &mut out);
    let flushed = out.flush();
    match result {
        Ok(()) => match flushed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("replay: cannot write output: {e}");
                ExitCode::from(1)
            }
        },
        Err(f) => {
            eprintln!("replay: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
