//! The live market page in a real browser: Debian's `chromium`, headless,
//! loads `/` from a server fed by a seeded flow, and the best bid, best ask
//! and top levels it renders equal `GET /v1/book`. Without chromium the
//! test fails under CI (`.ci/run` installs it) and is skipped elsewhere.
//! `KEEL_SCREENSHOT=FILE` also saves a screenshot (docs/market-page.png is
//! one).

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::*;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// The text of the element with `id` in `dom`.
fn text_of(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} in the page"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let end = start + dom[start..].find('<').unwrap();
    dom[start..end].to_owned()
}

/// The prices of the rows of the table body `id`, in order.
fn prices(dom: &str, id: &str) -> Vec<String> {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap();
    let body = &dom[at..at + dom[at..].find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let s = row.find("<span>").unwrap() + 6;
            row[s..s + row[s..].find('<').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn the_page_shows_the_book_the_depth_endpoint_serves() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: .ci/run installs it (apt-get install -y chromium)"
        );
        eprintln!("skipped: no chromium (CI installs it)");
        return;
    };
    let t = TestServer::start(|_| {});
    let url = t.url();
    let addr = t.server.as_ref().unwrap().local_addr();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let (mut alice, mut bob) = open_and_fund(&url, &t).await;
            let mut rid = 3;
            for i in 0..12u64 {
                for (ws, side, price) in [
                    (&mut alice, "buy", 29_990 - i * 5),
                    (&mut bob, "sell", 30_010 + i * 5),
                ] {
                    let a = call(
                        ws,
                        json!({"type":"place_order","request_id":rid,"symbol":"BTC-USD","side":side,
                               "order_type":"limit","price":format!("{price}.00"),"qty":format!("0.{:04}", 10 + i * 7),"tif":"gtc"}),
                        "p",
                    )
                    .await;
                    assert_eq!(a["type"], "answer", "{a}");
                }
                rid += 1;
            }
            // A trade, so the tape and the candle chart have something.
            let a = call(
                &mut alice,
                json!({"type":"place_order","request_id":rid,"symbol":"BTC-USD","side":"buy",
                       "order_type":"limit","price":"30010.00","qty":"0.0005","tif":"ioc"}),
                "x",
            )
            .await;
            assert_eq!(a["type"], "answer");
        });
    // Let the feed catch up with the last record before the page loads.
    let want: Value = loop {
        let v: Value = serde_json::from_str(&http_get(addr, "/v1/book?symbol=BTC-USD")).unwrap();
        if v["bids"].as_array().unwrap().len() == 12
            && v["asks"].as_array().unwrap()[0][1] == "0.0005"
        {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let page = format!("http://{addr}/?symbol=BTC-USD");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--window-size=1280,720".into(),
        "--virtual-time-budget=10000".into(),
    ];
    let dom = {
        let mut a = args.clone();
        a.push("--dump-dom".into());
        a.push(page.clone());
        let out = Command::new(browser).args(&a).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        text_of(&dom, "status"),
        "live",
        "the page followed the feed"
    );
    let best = |side: &str| want[side][0][0].as_str().unwrap().to_owned();
    assert_eq!(text_of(&dom, "best-bid"), best("bids"));
    assert_eq!(text_of(&dom, "best-ask"), best("asks"));
    let top = |side: &str| -> Vec<String> {
        want[side]
            .as_array()
            .unwrap()
            .iter()
            .take(15)
            .map(|l| l[0].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(prices(&dom, "bids"), top("bids"));
    let mut asks = prices(&dom, "asks");
    asks.reverse();
    assert_eq!(asks, top("asks"));
    assert_eq!(text_of(&dom, "update"), want["update"].to_string());
    if let Some(path) = std::env::var_os("KEEL_SCREENSHOT") {
        args.push(format!(
            "--screenshot={}",
            std::path::Path::new(&path).display()
        ));
        args.push(page);
        let out = Command::new(browser).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
