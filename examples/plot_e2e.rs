//! Draws the per-second series that `tests/e2e_tokens.rs` writes (with
//! `E2E_CSV=DIR`) as SVG pictures: requests and tokens admitted each second
//! by every client, with the server's limit drawn.
//!
//! ```text
//! E2E_CSV=target/e2e cargo test --release --all-features --test e2e_tokens
//! cargo run --example plot_e2e -- target/e2e
//! ```
//!
//! Each `DIR/<case>.csv` (rows `client,second,requests,tokens`; the client
//! `server limit` is the limit) becomes `DIR/<case>-requests.svg` and, when
//! the server limits tokens, `DIR/<case>-tokens.svg`.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Per client: (second, requests, tokens) rows, in the file's order.
type Series = BTreeMap<String, Vec<(u32, u64, u64)>>;

fn read(path: &Path) -> Result<Series, Box<dyn Error>> {
    let mut series = Series::new();
    for (number, line) in std::fs::read_to_string(path)?.lines().enumerate() {
        let fields: Vec<&str> = line.rsplitn(4, ',').collect();
        let [tokens, requests, second, client] = fields[..] else {
            return Err(format!("{}:{}: expected 4 fields", path.display(), number + 1).into());
        };
        series.entry(client.to_owned()).or_default().push((
            second.parse()?,
            requests.parse()?,
            tokens.parse()?,
        ));
    }
    Ok(series)
}

fn draw(
    series: &Series,
    title: &str,
    out: &Path,
    pick: fn(&(u32, u64, u64)) -> u64,
) -> Result<(), Box<dyn Error>> {
    let seconds = series.values().flatten().map(|r| r.0).max().unwrap_or(1);
    let top = series.values().flatten().map(pick).max().unwrap_or(1);
    let root = SVGBackend::new(out, (960, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0u32..seconds + 1, 0u64..top + top / 8 + 1)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(title.split(',').next().unwrap_or(title))
        .draw()?;
    let palette = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN];
    for (i, (client, rows)) in series.iter().enumerate() {
        let limit = client == "server limit";
        let style = if limit {
            BLACK.stroke_width(2)
        } else {
            palette[i % palette.len()].stroke_width(1)
        };
        chart
            .draw_series(LineSeries::new(rows.iter().map(|r| (r.0, pick(r))), style))?
            .label(client.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("error: name the folder the e2e run wrote (E2E_CSV), e.g. target/e2e");
        std::process::exit(2);
    };
    let mut drawn = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let case = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("case")
            .to_owned();
        let series = read(&path)?;
        let requests = dir.join(format!("{case}-requests.svg"));
        draw(
            &series,
            &format!("requests admitted per second, {case}"),
            &requests,
            |r| r.1,
        )?;
        println!("{}", requests.display());
        // Tokens only where the server limits them.
        let tokens_bind = series
            .get("server limit")
            .is_some_and(|rows| rows.iter().any(|r| r.2 > 0));
        if tokens_bind {
            let tokens = dir.join(format!("{case}-tokens.svg"));
            draw(
                &series,
                &format!("tokens admitted per second, {case}"),
                &tokens,
                |r| r.2,
            )?;
            println!("{}", tokens.display());
        }
        drawn += 1;
    }
    if drawn == 0 {
        eprintln!("error: no .csv files in {}", dir.display());
        std::process::exit(1);
    }
    Ok(())
}
