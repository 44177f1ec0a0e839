//! Integration tests: each subcommand run as the built `replay` binary on
//! journals written in-process by the engine (as `keel run` would).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use keel_edge::parse_command_line;
use keel_engine::runtime::Engine;
use keel_engine::Registry;
use serde_json::Value;

fn state_json(dir: &Path) -> Value {
    serde_json::from_str(ok(&["state", p(dir), "--format", "json"]).trim()).unwrap()
}

/// Available balances by (account, asset name) from `state --format json`.
fn available(dir: &Path) -> BTreeMap<(u64, String), String> {
    state_json(dir)["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                (
                    b["account"].as_u64().unwrap(),
                    b["asset"].as_str().unwrap().to_string(),
                ),
                b["available"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(_, v)| !v.trim_start_matches(['0', '.']).is_empty())
        .collect()
}

#[test]
fn verify_reports_records_and_the_engines_digest() {
    let (_t, dir, digest) = story_journal();
    let out = ok(&["verify", p(&dir)]);
    assert!(
        out.contains("journal OK: 23 records in 1 segments"),
        "{out}"
    );
    assert!(
        out.contains("determinism OK: 23 commands re-executed, events identical (decoded and byte for byte); invariants OK"),
        "{out}"
    );
    assert!(out.contains("records/s"), "{out}");
    assert_eq!(verify_digest(&dir), digest);
}

#[test]
fn verify_detects_a_divergent_journal() {
    // Re-journal the story with the events of sequence 8 forged (a bigger
    // deposit): the journal itself is intact, the decisions are not.
    let (t, dir, _) = story_journal();
    let forged = t.path().join("forged");
    let mut cfg = keel_journal::JournalConfig::new(&forged);
    cfg.segment_size_bytes = 1 << 20;
    cfg.max_record_bytes = 64 << 10;
    let (mut j, _) = keel_journal::Journal::open(cfg).unwrap();
    for rec in keel_journal::Journal::reader(&dir, 1).unwrap() {
        let rec = rec.unwrap();
        let mut r = keel_engine::record::Record::decode(rec.seq, &rec.payload).unwrap();
        if r.seq == 8 {
            for e in &mut r.events {
                if let keel_engine::Event::Deposited { amount, .. } = e {
                    *amount += 1;
                }
            }
        }
        let mut buf = Vec::new();
        keel_engine::record::encode_to_vec(&mut buf, r.ts_ns, &r.command, &r.events);
        j.append(&buf).unwrap();
        j.commit().unwrap();
    }
    drop(j);
    let r = replay(&["verify", p(&forged)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("divergence at sequence 8 (ts 5000)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(r#""amount":"2.00000001""#),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(r#""amount":"2.00000000""#),
        "{}",
        r.stderr
    );
    // Apply-only tools still read it (recovery never re-decides).
    ok(&["state", p(&forged)]);
}

#[test]
fn dump_text_json_and_filters() {
    let (_t, dir, _) = story_journal();
    let text = ok(&["dump", p(&dir)]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "       seq                 ts_ns  command         account  request  fields / events"
    );
    assert!(text.contains(
        "        11                  8000  place_order           1        3  order_type=limit post_only=false price=100.00 qty=0.5000 side=buy stp=cancel_newest symbol=BTC-USD tif=gtc"
    ), "{text}");
    assert!(text.contains(
        "->  trade_executed   fee_asset=USD maker_account=2 maker_fee=0.005000 maker_order=1 price=100.00 qty=0.5000 symbol=BTC-USD taker_account=1 taker_fee=0.025000 taker_order=2 taker_side=buy"
    ), "{text}");
    assert!(
        text.contains("->  order_cancelled  account=3 order=5 reason=expired remaining_lots=1000"),
        "{text}"
    );

    let json = ok(&[
        "dump",
        p(&dir),
        "--format",
        "json",
        "--from",
        "11",
        "--to",
        "11",
    ]);
    assert_eq!(json.lines().count(), 1);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["seq"], 11);
    assert_eq!(v["ts"], 8000);
    assert_eq!(v["intent"]["type"], "place_order");
    assert_eq!(v["intent"]["price"], "100.00");
    assert_eq!(v["events"][2]["type"], "trade_executed");

    let seqs = |out: &str| -> Vec<u64> {
        out.lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    // Account 3: its own commands, plus the transfer to it.
    let acc3 = ok(&["dump", p(&dir), "--format", "json", "--account", "3"]);
    assert_eq!(seqs(&acc3), vec![6, 9, 12, 13, 14, 21, 22, 23]);
    // The symbol: its definition, orders, cancels (also by mass cancel), halt, expiry.
    let sym = ok(&[
        "dump",
        p(&dir),
        "--format",
        "json",
        "--symbol",
        "BTC-USD",
        "--to",
        "20",
    ]);
    assert_eq!(seqs(&sym), vec![3, 10, 11, 12, 13, 16, 17, 18, 19, 20]);
    let r = replay(&["dump", p(&dir), "--symbol", "NOPE"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown symbol \"NOPE\" (the journal has: BTC-USD)"),
        "{}",
        r.stderr
    );
}

#[test]
fn state_at_the_end_and_at_a_sequence() {
    let (_t, dir, digest) = story_journal();
    let text = ok(&["state", p(&dir)]);
    let expected = format!(
        "state after sequence 23 (ts 20000)
digest {digest}

assets:
  asset  scale  supply
  BTC    8      2.01000000
  USD    6      14990.000000

balances:
  account  asset  available    held
  0        USD    0.030000     0.000000
  1        BTC    0.50000000   0.00000000
  1        USD    9849.975000  0.000000
  2        BTC    1.50000000   0.00000000
  2        USD    39.995000    0.000000
  3        BTC    0.01000000   0.00000000
  3        USD    5100.000000  0.000000

open orders:
  order  account  symbol  side  price  remaining  reserved  tif

book BTC-USD:
  side  price  qty  orders
"
    );
    assert_eq!(text, expected);

    let at16 = ok(&["state", p(&dir), "--at", "16", "--account", "2"]);
    assert!(
        at16.starts_with("state after sequence 16 (ts 13000)\n"),
        "{at16}"
    );
    assert!(
        at16.contains("  2        BTC    0.70000000  0.80000000\n"),
        "{at16}"
    );
    assert!(
        at16.contains("  1      2        BTC-USD  sell  100.00  0.5000     0.50000000  gtc\n"),
        "{at16}"
    );
    assert!(
        at16.contains("  4      2        BTC-USD  sell  101.00  0.3000     0.30000000  gtc\n"),
        "{at16}"
    );
    assert!(
        at16.contains("  ask   101.00  0.3000  1\n  ask   100.00  0.5000  1\n"),
        "{at16}"
    );

    let v: Value = serde_json::from_str(
        ok(&[
            "state",
            p(&dir),
            "--at",
            "12",
            "--format",
            "json",
            "--symbol",
            "BTC-USD",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(v["seq"], 12);
    assert_eq!(v["books"][0]["bids"][0]["price"], "99.00");
    assert_eq!(v["books"][0]["asks"][0]["qty"], "0.5000");
    assert_eq!(v["orders"].as_array().unwrap().len(), 2);

    let genesis = ok(&["state", p(&dir), "--at", "0"]);
    assert!(
        genesis.starts_with("state after sequence 0 (ts 0)\n"),
        "{genesis}"
    );
}

#[test]
fn diff_between_two_points() {
    let (_t, dir, _) = story_journal();
    let out = ok(&["diff", p(&dir), "--from", "9", "--to", "18"]);
    let expected = "changes from after sequence 9 to after sequence 18: 9 records, 1 trades

balances:
  account  asset  available    held        available_now  held_now
  0        USD    +0.030000    0.000000    0.030000       0.000000
  1        BTC    +0.50000000  0.00000000  0.50000000     0.00000000
  1        USD    -150.025000  0.000000    9849.975000    0.000000
  2        BTC    -0.50000000  0.00000000  1.50000000     0.00000000
  2        USD    +39.995000   0.000000    39.995000      0.000000
  3        USD    +100.000000  0.000000    5100.000000    0.000000

orders opened (4):
  order  account  symbol   side  price   qty
  1      2        BTC-USD  sell  100.00  1.0000
  2      1        BTC-USD  buy   100.00  0.5000
  3      3        BTC-USD  buy   99.00   0.2000
  4      2        BTC-USD  sell  101.00  0.3000

orders filled (1):
  order  account  symbol   side  filled
  2      1        BTC-USD  buy   0.5000

orders partially filled (1):
  order  account  symbol   side  filled
  1      2        BTC-USD  sell  0.5000

orders cancelled (3):
  order  account  symbol   side  remaining  reason
  3      3        BTC-USD  buy   0.2000     user
  1      2        BTC-USD  sell  0.5000     mass_cancel
  4      2        BTC-USD  sell  0.2000     mass_cancel
";
    assert_eq!(out, expected);
    let v: Value = serde_json::from_str(
        ok(&[
            "diff",
            p(&dir),
            "--from",
            "10",
            "--to",
            "11",
            "--format",
            "json",
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(v["trades"], 1);
    assert_eq!(v["filled"][0]["order"], 2);
    let r = replay(&["diff", p(&dir), "--from", "12", "--to", "11"]);
    assert_eq!(r.code, 2);
    let r = replay(&["diff", p(&dir), "--from", "1", "--to", "99"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(
            "sequence 99 is beyond the end of the journal (the last committed sequence is 23)"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn export_trades_balances_orders() {
    let (_t, dir, _) = story_journal();
    assert_eq!(
        ok(&["export", p(&dir), "--what", "trades", "--format", "csv"]),
        "seq,ts,symbol,maker_order,taker_order,maker_account,taker_account,taker_side,price,qty,maker_fee,taker_fee,fee_asset\n\
         11,8000,BTC-USD,1,2,2,1,buy,100.00,0.5000,0.005000,0.025000,USD\n"
    );
    assert_eq!(
        ok(&["export", p(&dir), "--what", "trades", "--format", "jsonl"]),
        r#"{"seq":11,"ts":8000,"symbol":"BTC-USD","maker_order":1,"taker_order":2,"maker_account":2,"taker_account":1,"taker_side":"buy","price":"100.00","qty":"0.5000","maker_fee":"0.005000","taker_fee":"0.025000","fee_asset":"USD"}"#.to_string() + "\n"
    );
    let balances = ok(&["export", p(&dir), "--what", "balances"]);
    assert_eq!(
        balances.lines().next(),
        Some("account,asset,available,held")
    );
    assert!(
        balances.contains("\n1,USD,9849.975000,0.000000\n"),
        "{balances}"
    );
    assert_eq!(balances.lines().count(), 8);
    assert_eq!(
        ok(&["export", p(&dir), "--what", "orders", "--at", "16"]),
        "order,account,symbol,side,price,remaining,reserved,reserved_asset,tif,post_only\n\
         1,2,BTC-USD,sell,100.00,0.5000,0.50000000,BTC,gtc,false\n\
         4,2,BTC-USD,sell,101.00,0.3000,0.30000000,BTC,gtc,false\n"
    );
    let orders = ok(&[
        "export",
        p(&dir),
        "--what",
        "orders",
        "--format",
        "jsonl",
        "--at",
        "21",
    ]);
    let v: Value = serde_json::from_str(orders.trim()).unwrap();
    assert_eq!(v["tif"], "gtd@18500");
}

#[test]
fn what_if_drop_the_funding_deposit_end_to_end() {
    let (t, dir, _) = story_journal();
    // Independently: the same story without the deposit (sequence 7).
    let alt_dir = t.path().join("alt");
    let mut alt_lines = story();
    alt_lines.remove(3);
    let alt_digest = write_journal(&alt_dir, &alt_lines, 4);

    let corrections = t.path().join("corrections.jsonl");
    let out = ok(&[
        "what-if",
        p(&dir),
        "--drop",
        "7",
        "--corrections",
        p(&corrections),
    ]);
    assert!(out.starts_with(
        "what-if: drop sequence 7: deposit account=1 request_id=2 amount=10000.000000 asset=USD\n"
    ), "{out}");
    // The order that deposit funded is rejected and its trade is gone.
    let first = out
        .split("first divergence at sequence 11 (ts 8000): place_order account=1")
        .nth(1)
        .expect(&out);
    let alt_part = first.split("  alternative:\n").nth(1).unwrap();
    let alt_part = alt_part
        .split("records with a different outcome")
        .next()
        .unwrap();
    assert!(
        alt_part.contains("rejected         account=1 message=insufficient funds"),
        "{out}"
    );
    assert!(alt_part.contains("reason=insufficient_funds"), "{out}");
    assert!(!alt_part.contains("trade_executed"), "{out}");
    assert!(
        out.contains(&format!("digest alternative {alt_digest}\n")),
        "{out}"
    );
    assert!(
        out.contains("  1        USD    9849.975000     0.000000       -9849.975000"),
        "{out}"
    );
    assert_eq!(
        ok(&["export", p(&alt_dir), "--what", "trades"])
            .lines()
            .count(),
        1,
        "no trades in the alternative history"
    );

    // The corrections, processed after the real history, give the
    // alternative's available balances.
    let text = std::fs::read_to_string(&corrections).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Value = serde_json::from_str(
        r#"{"account":1,"amount":"9849.975000","asset":"USD","request_id":6,"ts":20000,"type":"withdraw"}"#,
    )
    .unwrap();
    assert!(lines.contains(&want), "{text}");
    let fixed = t.path().join("fixed");
    copy_dir(&dir, &fixed);
    let engine = Engine::start(&config(&fixed, 4)).unwrap();
    let registry = engine.query(Registry::from_state).unwrap();
    let sender = engine.sender();
    for line in text.lines() {
        let c = parse_command_line(line, &registry).unwrap();
        sender.submit_at(c.command, c.ts).unwrap();
    }
    drop(sender);
    engine.shutdown().unwrap();
    let dump = ok(&["dump", p(&fixed), "--from", "24", "--format", "json"]);
    assert_eq!(dump.lines().count(), 6);
    assert!(!dump.contains("rejected"), "{dump}");
    assert_eq!(available(&fixed), available(&alt_dir));
    assert_ne!(available(&dir), available(&alt_dir));
}

#[test]
fn what_if_insert_and_replace() {
    let (_t, dir, _) = story_journal();
    let out = ok(&[
        "what-if",
        p(&dir),
        "--insert-before",
        "11",
        "--command",
        r#"{"type":"withdraw","account":1,"request_id":3,"asset":"USD","amount":"9990"}"#,
    ]);
    assert!(out.contains("what-if: insert before sequence 11: withdraw account=1 request_id=3 amount=9990.000000 asset=USD at ts 8000"), "{out}");
    assert!(out.contains("  alternative events:\n    accepted         account=1 request_id=3\n    withdrawn        account=1 amount=9990.000000 asset=USD\n"), "{out}");
    // Account 1's order (request 3) is now a duplicate.
    assert!(out.contains("first divergence at sequence 11"), "{out}");
    assert!(out.contains("reason=duplicate"), "{out}");

    let out = ok(&[
        "what-if",
        p(&dir),
        "--replace",
        "18",
        "--command",
        r#"{"type":"cancel_order","account":2,"request_id":7,"order":4}"#,
    ]);
    assert!(out.contains("what-if: replace sequence 18 (cancel_all account=2 request_id=7) with cancel_order account=2 request_id=7 order=4 at ts 15000"), "{out}");
    assert!(out.contains("no divergence"), "{out}");
    assert!(
        out.contains(
            "  2        BTC    1.50000000      1.00000000     -0.50000000  0.00000000  0.50000000"
        ),
        "{out}"
    );
}

#[test]
fn snapshots_restart_and_corrupt_snapshots_are_skipped() {
    let (_t, dir, digest) = story_journal();
    let out = ok(&["snapshot", p(&dir), "--at", "12"]);
    assert!(
        out.starts_with(&format!(
            "wrote {}",
            dir.join("snapshot-00000000000000000012.keelsnap").display()
        )),
        "{out}"
    );
    assert!(out.contains("state after sequence 12 (ts 9000)"), "{out}");
    let out = ok(&["snapshot", p(&dir)]);
    assert!(out.contains("state after sequence 23 (ts 20000)"), "{out}");
    assert!(
        out.contains("built from the snapshot at 12 + 11 records"),
        "{out}"
    );
    assert!(out.contains(&format!("digest {digest}")), "{out}");

    // `state` uses the snapshot and agrees with a replay from genesis.
    let with = ok(&["state", p(&dir), "--at", "15"]);
    assert!(
        with.starts_with("state after sequence 15 (ts 12000) (from the snapshot at 12)\n"),
        "{with}"
    );

    // A restart recovers from the newest snapshot, to the same digest.
    let engine = Engine::start(&config(&dir, 4)).unwrap();
    let report = engine.start_report().clone();
    assert_eq!(report.snapshot_seq, Some(23));
    assert_eq!(report.records_replayed, 0);
    assert!(report.snapshots_skipped.is_empty());
    assert_eq!(report.digest.to_string(), digest);
    engine.shutdown().unwrap();
    assert_eq!(verify_digest(&dir), digest);

    // Damage the newest snapshot's body: it is skipped, the older one used.
    let newest = dir.join("snapshot-00000000000000000023.keelsnap");
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() - 10;
    bytes[mid] ^= 0x40;
    std::fs::write(&newest, bytes).unwrap();
    let engine = Engine::start(&config(&dir, 4)).unwrap();
    let report = engine.start_report().clone();
    engine.shutdown().unwrap();
    assert_eq!(
        report.snapshots_skipped.len(),
        1,
        "{:?}",
        report.snapshots_skipped
    );
    assert!(
        report.snapshots_skipped[0].1.contains("checksum"),
        "{:?}",
        report.snapshots_skipped
    );
    assert_eq!(report.snapshot_seq, Some(12));
    assert_eq!(report.records_replayed, 11);
    assert_eq!(report.digest.to_string(), digest);
    let r = replay(&["state", p(&dir)]);
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("skipped snapshot"), "{}", r.stderr);
    assert!(r.stdout.contains(&digest));
}

#[test]
fn corruption_is_named_then_repaired() {
    let (_t, dir, _) = story_journal();
    let seg = segments(&dir)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let (offset, seq, len) = record_frames(&bytes)
        .into_iter()
        .find(|f| f.1 == 12)
        .unwrap();
    assert_eq!(seq, 12);
    bytes[offset + 16 + len / 2] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let r = replay(&["verify", p(&dir)]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(&format!(
            "journal corrupt at sequence 12 (file {}, offset {offset})",
            seg.display()
        )),
        "{}",
        r.stderr
    );
    for args in [vec!["dump", p(&dir)], vec!["state", p(&dir)]] {
        let r = replay(&args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains("sequence 12"), "{}", r.stderr);
    }
    let r = replay(&["state", p(&dir), "--at", "11"]);
    assert_eq!(r.code, 0, "the history before the damage still reads");

    // Not on a terminal and no --yes: refused, nothing changed.
    let r = replay(&["repair", p(&dir), "--truncate-at", "12"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("refusing to truncate"), "{}", r.stderr);
    assert_eq!(replay(&["verify", p(&dir)]).code, 1);

    let out = ok(&["repair", p(&dir), "--truncate-at", "12", "--yes"]);
    let backup = dir.join("truncated-at-12.keelbak");
    assert!(
        out.starts_with(&format!("truncated {} at sequence 12\n", dir.display())),
        "{out}"
    );
    assert!(
        out.contains("  removed: everything from sequence 12 on, including the damage there"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "bytes of segment data moved to {}",
            backup.display()
        )),
        "{out}"
    );
    assert!(
        out.contains("  the journal now ends at sequence 11\n"),
        "{out}"
    );
    let b = std::fs::read(&backup).unwrap();
    assert_eq!(&b[..8], b"KEELBAK1");
    assert!(b.len() > 8 + 100);

    let out = ok(&["verify", p(&dir)]);
    assert!(out.contains("journal OK: 11 records"), "{out}");

    // Truncating a healthy journal names the sequences cut.
    let out = ok(&["repair", p(&dir), "--truncate-at", "9", "--yes"]);
    assert!(
        out.contains("  removed: sequences 9..=11 (3 committed records)"),
        "{out}"
    );
    assert!(dir.join("truncated-at-9.keelbak").exists());
    assert!(ok(&["verify", p(&dir)]).contains("journal OK: 8 records"));
    let r = replay(&["repair", p(&dir), "--truncate-at", "20", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("nothing to cut: the journal ends at sequence 8"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    let (t, dir, _) = story_journal();
    let missing = t.path().join("missing");
    let r = replay(&["verify", p(&missing)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot open journal directory"),
        "{}",
        r.stderr
    );

    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for sub in ["verify", "dump", "state", "snapshot"] {
        let r = replay(&[sub, p(&empty)]);
        assert_eq!(r.code, 2, "{sub}");
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains("not a Keel journal"), "{}", r.stderr);
    }
    let file = t.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(replay(&["dump", p(&file)])
        .stderr
        .contains("not a directory"));

    // An unsupported format version (with a valid header checksum).
    let newer = t.path().join("newer");
    copy_dir(&dir, &newer);
    let seg = segments(&newer)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    let crc = crc32c(&bytes[..124]);
    bytes[124..128].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    for sub in ["verify", "dump", "state"] {
        let r = replay(&[sub, p(&newer)]);
        assert_eq!(r.code, 1, "{sub}");
        assert!(r.stdout.lines().count() <= 1, "{sub}: {}", r.stdout);
        assert!(r.stderr.contains("version 99"), "{sub}: {}", r.stderr);
    }

    // Past the end.
    for args in [
        vec!["state", p(&dir), "--at", "24"],
        vec!["snapshot", p(&dir), "--at", "100"],
        vec!["export", p(&dir), "--what", "balances", "--at", "24"],
        vec!["what-if", p(&dir), "--drop", "24"],
    ] {
        let r = replay(&args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(
            r.stderr
                .contains("is beyond the end of the journal (the last committed sequence is 23)"),
            "{}",
            r.stderr
        );
    }
    assert!(!dir.join("snapshot-00000000000000000100.keelsnap").exists());

    // Malformed --command.
    for (cmd, why) in [
        (r#"{"type":"deposit","#, "not valid JSON"),
        (
            r#"{"type":"deposit","account":1,"request_id":9,"asset":"DOGE","amount":"1"}"#,
            "unknown asset \"DOGE\"",
        ),
        (
            r#"{"type":"teleport","account":1,"request_id":9}"#,
            "--command: invalid JSON command",
        ),
    ] {
        let r = replay(&["what-if", p(&dir), "--replace", "8", "--command", cmd]);
        assert_eq!(r.code, 2, "{cmd}");
        assert!(r.stdout.is_empty());
        assert!(r.stderr.contains(why), "{cmd}: {}", r.stderr);
    }
    let r = replay(&["what-if", p(&dir), "--insert-before", "8"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = replay(&["what-if", p(&dir)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = replay(&["state", p(&dir), "--account", "9"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("account 9 does not exist after sequence 23"),
        "{}",
        r.stderr
    );
    let r = replay(&["--config", "/nonexistent.toml", "state", p(&dir)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read config"), "{}", r.stderr);
}

/// The checksum recomputed here from the printed levels, as docs/PROTOCOL.md
/// (and `keel_readmodel::book`) define it: CRC32 of the top 10 asks then
/// top 10 bids, price then qty, `.` and leading zeros removed.
fn checksum_of(book: &Value) -> u32 {
    let mut text = String::new();
    for side in ["asks", "bids"] {
        for level in book[side].as_array().unwrap().iter().take(10) {
            for i in 0..2 {
                let digits: String = level[i]
                    .as_str()
                    .unwrap()
                    .chars()
                    .filter(|c| *c != '.')
                    .collect();
                text.push_str(digits.trim_start_matches('0'));
            }
        }
    }
    crc32fast::hash(text.as_bytes())
}

#[test]
fn book_at_each_sequence_is_the_state_s_book_with_its_checksum() {
    let (_tmp, dir, _) = story_journal();
    let mut changed = 0;
    let mut last_update = 0;
    let end = GENESIS_RECORDS + story().len() as u64;
    for at in GENESIS_RECORDS..=end {
        let at_text = at.to_string();
        let book: Value = serde_json::from_str(
            ok(&[
                "book",
                p(&dir),
                "--symbol",
                "BTC-USD",
                "--format",
                "json",
                "--at",
                &at_text,
            ])
            .trim(),
        )
        .unwrap();
        assert_eq!(book["seq"], at);
        let state: Value = serde_json::from_str(
            ok(&["state", p(&dir), "--format", "json", "--at", &at_text]).trim(),
        )
        .unwrap();
        let books = state["books"].as_array().unwrap();
        if let Some(s) = books.iter().find(|b| b["symbol"] == "BTC-USD") {
            for side in ["bids", "asks"] {
                let want: Vec<Value> = s[side]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| serde_json::json!([l["price"], l["qty"], l["orders"]]))
                    .collect();
                assert_eq!(book[side].as_array().unwrap(), &want, "{side} at {at}");
            }
        }
        assert_eq!(
            book["checksum"].as_u64().unwrap(),
            u64::from(checksum_of(&book)),
            "at {at}"
        );
        let update = book["update"].as_u64().unwrap();
        assert!(
            update <= at && update >= last_update,
            "update {update} at {at}"
        );
        if update != last_update {
            changed += 1;
        }
        last_update = update;
    }
    assert!(changed >= 5, "the story changes the book often: {changed}");
    let err = replay(&["book", p(&dir), "--symbol", "NOPE-USD"]);
    assert!(
        err.code != 0 && err.stderr.contains("NOPE-USD"),
        "{}",
        err.stderr
    );
}
