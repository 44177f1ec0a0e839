//! `keel serve` and `keel keys add`.

use std::path::Path;

use keel_gateway::{add_key as add, Server};

/// Runs the gateway until SIGTERM or SIGINT. Exit status: 0 clean stop, 2
/// bad config or start failure, 3 the engine stopped on a failure.
pub fn serve(config_path: &Path) -> u8 {
    let (config, gateway) = match crate::replicated::load(config_path, "keel serve") {
        Ok((config, gateway, Some(replication))) => {
            return crate::replicated::run(
                &config,
                gateway,
                replication,
                crate::replicated::Role::Lead,
            )
        }
        Ok((config, gateway, None)) => (config, gateway),
        Err(code) => return code,
    };
    let keys_file = gateway.keys_file.clone();
    let server = match Server::start(&config, gateway) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keel serve: {e}");
            return 2;
        }
    };
    let report = server.start_report();
    eprintln!(
        "keel serve: recovered {} records (journal {}), digest {}",
        report.records_replayed,
        report.journal_dir.display(),
        report.digest
    );
    for w in &report.warnings {
        eprintln!("keel serve: warning: {w}");
    }
    eprintln!("keel serve: keys from {}", keys_file.display());
    // The address on stdout, flushed, for scripts and tests.
    println!(
        "keel serve: listening on ws://{}/v1/ws",
        server.local_addr()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    match server.run_until_signal() {
        Ok(exit) => {
            eprintln!("keel serve: stopped; gateway {}", exit.telemetry);
            eprintln!("keel serve: final digest {}", exit.engine.digest);
            0
        }
        Err(e) => {
            eprintln!("keel serve: {e}");
            3
        }
    }
}

/// `keel follow` (`Follow`) and `keel promote` (`Promote`): need
/// `[replication]`.
pub fn replicated(config_path: &Path, role: crate::replicated::Role) -> u8 {
    let me = if role == crate::replicated::Role::Follow {
        "keel follow"
    } else {
        "keel promote"
    };
    match crate::replicated::load(config_path, me) {
        Ok((config, gateway, Some(replication))) => {
            crate::replicated::run(&config, gateway, replication, role)
        }
        Ok((_, _, None)) => {
            eprintln!(
                "{me}: {} has no [replication] section: name the NATS servers and stream (see configs/replicated.toml)",
                config_path.display()
            );
            2
        }
        Err(code) => code,
    }
}

/// Adds a key to the config's keys file; the secret is the last word printed.
pub fn add_key(config_path: &Path, account: u32, operator: bool) -> u8 {
    let (_, gateway) = match keel_gateway::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keel keys add: {e}");
            return 2;
        }
    };
    match add(&gateway.keys_file, account, operator) {
        Ok((entry, secret)) => {
            println!(
                "key {} for account {}{} added to {}; it is shown only now: {}",
                entry.id,
                entry.account,
                if entry.operator { " (operator)" } else { "" },
                gateway.keys_file.display(),
                secret
            );
            0
        }
        Err(e) => {
            eprintln!("keel keys add: {e}");
            2
        }
    }
}
