//! The peer engines in `benches/peers.rs` produce the same fills (maker,
//! taker, price, quantity; ids mapped to Keel's) as Keel's core on a shared
//! workload of passive limits, cancels, IOC and market orders. Aggressive
//! orders never ask for more than the liquidity at acceptable prices (see
//! `common/peers.rs`: matchcore 0.4.0 sweeps past a crossing order's limit).

mod common;

use common::peers::*;

fn workload() -> PeerWorkload {
    generate(7, 500, 20_000)
}

#[test]
fn peers_produce_keels_fills() {
    let w = workload();
    let keel = keel_fills(&w, &w.keel_ops);
    assert!(
        keel.len() > 1_000,
        "the workload trades: {} fills",
        keel.len()
    );

    let mut lob = LobsterPeer::new();
    let mut mc = MatchcorePeer::new(w.id_bound());
    let mut obr = OrderbookRsPeer::new(true);
    let (mut lob_fills, mut mc_fills) = (Vec::new(), Vec::new());
    for op in &w.setup_ops {
        lob.apply(op, &mut lob_fills);
        mc.apply(op, &mut mc_fills);
        obr.apply(op);
    }
    assert!(
        lob_fills.is_empty() && mc_fills.is_empty(),
        "setup is passive"
    );
    obr.fills.lock().unwrap().clear();
    for op in &w.ops {
        lob.apply(op, &mut lob_fills);
        mc.apply(op, &mut mc_fills);
        obr.apply(op);
    }
    let obr_fills = obr.fills.lock().unwrap().clone();
    for (name, fills) in [
        ("lobster", &lob_fills),
        ("matchcore", &mc_fills),
        ("orderbook-rs", &obr_fills),
    ] {
        let first_diff = keel.iter().zip(fills.iter()).position(|(a, b)| a != b);
        assert!(
            fills.len() == keel.len() && first_diff.is_none(),
            "{name}: {} fills vs Keel's {}; first difference at {:?}: keel {:?} vs {name} {:?}",
            fills.len(),
            keel.len(),
            first_diff,
            first_diff.map(|i| keel[i]),
            first_diff.map(|i| fills[i]),
        );
    }
}
