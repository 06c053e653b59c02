//! The coverage signal: a coverage report present in the work tree, read as it is (the cycle
//! never runs a coverage tool, which would be slow and language-specific). Formats: lcov
//! (`lcov.info`, from cargo-llvm-cov, c8, genhtml…), Cobertura XML (`coverage.xml`, from
//! coverage.py, pytest-cov, gcovr, JaCoCo converters…), coverage.py's JSON (`coverage.json`) and
//! Istanbul's JSON summary (`coverage-summary.json`). No report: `unavailable`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where reports are looked for when `[autonomy] coverage_report` names none, first found wins.
pub const REPORTS: [&str; 7] = [
    "lcov.info",
    "coverage/lcov.info",
    "coverage.xml",
    "coverage/cobertura-coverage.xml",
    "coverage.json",
    "coverage/coverage-summary.json",
    "target/llvm-cov/lcov.info",
];
/// Files listed in the signal, least covered first.
const LISTED: usize = 10;
/// Reports larger than this are not read.
const MAX_BYTES: u64 = 64 << 20;

/// `available` or `unavailable`; line coverage overall and of the files below the per-file
/// threshold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CoverageSignal {
    pub status: String,
    pub report: Option<String>,
    pub format: Option<String>,
    pub percent: Option<f64>,
    pub lines_total: u64,
    pub lines_covered: u64,
    pub files: usize,
    /// The per-file threshold the files below were measured against.
    pub file_threshold: f64,
    pub files_below_threshold: usize,
    /// The least covered files below the threshold.
    pub uncovered_files: Vec<FileCoverage>,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileCoverage {
    pub path: String,
    pub percent: f64,
    pub lines_total: u64,
}

impl CoverageSignal {
    pub fn unavailable(detail: impl Into<String>) -> Self {
        CoverageSignal {
            status: "unavailable".into(),
            detail: Some(detail.into()),
            ..CoverageSignal::default()
        }
    }
}

/// Line counts per file: (total, covered).
type PerFile = BTreeMap<String, (u64, u64)>;
/// A parsed report: its format, the per-file counts, the overall counts when it states them.
pub type Parsed = (&'static str, PerFile, Option<(u64, u64)>);

/// Read the configured report, else the first of [`REPORTS`]. A configured report that is
/// missing or unreadable is an error (recorded by the cycle); no report at all is `unavailable`.
pub fn collect(workdir: &Path, configured: Option<&str>, file_threshold: f64) -> Result<CoverageSignal, String> {
    let rel = match configured {
        Some(c) => c.to_owned(),
        None => match REPORTS.iter().find(|r| workdir.join(r).is_file()) {
            Some(r) => (*r).to_owned(),
            None => {
                return Ok(CoverageSignal::unavailable(
                    "no coverage report (lcov.info, coverage.xml, coverage.json) in the work tree",
                ));
            }
        },
    };
    let path = workdir.join(&rel);
    let meta = std::fs::metadata(&path).map_err(|e| format!("could not read the coverage report {rel}: {e}"))?;
    if meta.len() > MAX_BYTES {
        return Err(format!(
            "the coverage report {rel} is larger than {} MiB",
            MAX_BYTES >> 20
        ));
    }
    let text = crate::config::read::read_plain_text(&path, MAX_BYTES).ok_or_else(|| {
        format!("could not read the coverage report {rel}: not a regular UTF-8 file within the size limit")
    })?;
    let (format, files, overall) = parse(&rel, &text).map_err(|e| format!("the coverage report {rel}: {e}"))?;
    let files: PerFile =
        files
            .into_iter()
            .map(|(p, c)| (relative(workdir, &p), c))
            .fold(BTreeMap::new(), |mut m, (p, (t, c))| {
                let e: &mut (u64, u64) = m.entry(p).or_default();
                e.0 += t;
                e.1 += c;
                m
            });
    let (total, covered) = overall.unwrap_or_else(|| files.values().fold((0, 0), |a, f| (a.0 + f.0, a.1 + f.1)));
    let mut below: Vec<FileCoverage> = files
        .iter()
        .filter(|(_, (t, _))| *t > 0)
        .map(|(p, (t, c))| FileCoverage {
            path: p.clone(),
            percent: percent(*c, *t),
            lines_total: *t,
        })
        .filter(|f| f.percent < file_threshold)
        .collect();
    below.sort_by(|a, b| a.percent.total_cmp(&b.percent).then_with(|| a.path.cmp(&b.path)));
    let files_below_threshold = below.len();
    below.truncate(LISTED);
    Ok(CoverageSignal {
        status: "available".into(),
        report: Some(rel),
        format: Some(format.into()),
        percent: (total > 0).then(|| percent(covered, total)),
        lines_total: total,
        lines_covered: covered,
        files: files.len(),
        file_threshold,
        files_below_threshold,
        uncovered_files: below,
        detail: None,
    })
}

fn percent(covered: u64, total: u64) -> f64 {
    // One decimal: enough to read, and stable in JSON.
    (covered as f64 * 1000.0 / total as f64).round() / 10.0
}

fn relative(workdir: &Path, file: &str) -> String {
    let p = Path::new(file);
    let canon = std::fs::canonicalize(workdir).unwrap_or_else(|_| workdir.to_path_buf());
    p.strip_prefix(workdir).or_else(|_| p.strip_prefix(&canon)).map_or_else(
        |_| file.trim_start_matches("./").to_owned(),
        |r| r.display().to_string(),
    )
}

/// The format's name, the per-file line counts, and the overall counts when the report states
/// them.
pub fn parse(name: &str, text: &str) -> Result<Parsed, String> {
    if name.ends_with(".xml") || text.trim_start().starts_with('<') {
        return cobertura(text).map(|(f, o)| ("cobertura", f, o));
    }
    if name.ends_with(".json") || text.trim_start().starts_with('{') {
        return json(text);
    }
    Ok(("lcov", lcov(text)?, None))
}

fn lcov(text: &str) -> Result<PerFile, String> {
    let mut out = PerFile::new();
    let mut file: Option<String> = None;
    let (mut lf, mut lh, mut da_total, mut da_hit) = (None::<u64>, None::<u64>, 0u64, 0u64);
    for line in text.lines().map(str::trim) {
        if let Some(f) = line.strip_prefix("SF:") {
            file = Some(f.to_owned());
            (lf, lh, da_total, da_hit) = (None, None, 0, 0);
        } else if let Some(n) = line.strip_prefix("LF:") {
            lf = n.parse().ok();
        } else if let Some(n) = line.strip_prefix("LH:") {
            lh = n.parse().ok();
        } else if let Some(d) = line.strip_prefix("DA:") {
            da_total += 1;
            let hits = d.split(',').nth(1).and_then(|h| h.parse::<u64>().ok()).unwrap_or(0);
            da_hit += u64::from(hits > 0);
        } else if line == "end_of_record"
            && let Some(f) = file.take()
        {
            let e = out.entry(f).or_default();
            e.0 += lf.unwrap_or(da_total);
            e.1 += lh.unwrap_or(da_hit);
        }
    }
    if out.is_empty() {
        return Err("no lcov records (SF: … end_of_record)".into());
    }
    Ok(out)
}

/// The value of `attr` in the tag starting at the beginning of `tag`.
fn attr<'a>(tag: &'a str, attr: &str) -> Option<&'a str> {
    let end = tag.find('>').unwrap_or(tag.len());
    let tag = &tag[..end];
    let mut at = 0;
    while let Some(i) = tag[at..].find(attr) {
        let start = at + i;
        let before_ok = start > 0 && tag.as_bytes()[start - 1].is_ascii_whitespace();
        let rest = &tag[start + attr.len()..];
        if before_ok && let Some(rest) = rest.trim_start().strip_prefix('=') {
            let rest = rest.trim_start();
            let quote = rest.chars().next()?;
            if quote == '"' || quote == '\'' {
                let v = &rest[1..];
                return v.find(quote).map(|e| &v[..e]);
            }
        }
        at = start + attr.len();
    }
    None
}

/// Cobertura: lines counted per `<class filename=…>` from its `<line hits=…>` elements; the
/// overall counts from the root's `lines-valid`/`lines-covered` when present.
fn cobertura(text: &str) -> Result<(PerFile, Option<(u64, u64)>), String> {
    let root = text
        .find("<coverage")
        .ok_or("no <coverage> element (not a Cobertura report)")?;
    let root_tag = &text[root..];
    let overall = match (
        attr(root_tag, "lines-valid").and_then(|v| v.parse().ok()),
        attr(root_tag, "lines-covered").and_then(|v| v.parse().ok()),
    ) {
        (Some(t), Some(c)) => Some((t, c)),
        _ => None,
    };
    let mut out = PerFile::new();
    let mut rest = &text[root..];
    while let Some(i) = rest.find("<class ") {
        let class = &rest[i..];
        let end = class.find("</class>").unwrap_or(class.len());
        let body = &class[..end];
        if let Some(file) = attr(class, "filename") {
            let (mut total, mut hit) = (0u64, 0u64);
            let mut lines = body;
            while let Some(j) = lines.find("<line ") {
                let l = &lines[j..];
                total += 1;
                hit += u64::from(attr(l, "hits").and_then(|h| h.parse::<u64>().ok()).unwrap_or(0) > 0);
                lines = &l[6..];
            }
            let e = out.entry(file.to_owned()).or_default();
            e.0 += total;
            e.1 += hit;
        }
        rest = &class[end..];
    }
    if out.is_empty() && overall.is_none() {
        return Err("no <class filename=…> elements and no lines-valid".into());
    }
    Ok((out, overall))
}

/// coverage.py's `coverage json` (`files.<path>.summary`, `totals`) or Istanbul's
/// `json-summary` (`total.lines`, `<path>.lines`).
fn json(text: &str) -> Result<Parsed, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let n = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
    if let Some(files) = v["files"].as_object() {
        let per: PerFile = files
            .iter()
            .map(|(p, f)| {
                let s = &f["summary"];
                (p.clone(), (n(&s["num_statements"]), n(&s["covered_lines"])))
            })
            .collect();
        let t = &v["totals"];
        let overall = t.is_object().then(|| (n(&t["num_statements"]), n(&t["covered_lines"])));
        return Ok(("coverage.py", per, overall));
    }
    if let Some(obj) = v.as_object().filter(|o| o.contains_key("total")) {
        let per: PerFile = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "total")
            .map(|(p, f)| (p.clone(), (n(&f["lines"]["total"]), n(&f["lines"]["covered"]))))
            .collect();
        let t = &v["total"]["lines"];
        return Ok(("istanbul", per, Some((n(&t["total"]), n(&t["covered"])))));
    }
    Err("neither coverage.py's JSON (files, totals) nor Istanbul's summary (total)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_give_the_same_counts() {
        let lcov = "TN:\nSF:/w/src/a.rs\nDA:1,1\nDA:2,0\nend_of_record\nSF:src/b.rs\nLF:4\nLH:4\nend_of_record\n";
        let (_, f, _) = parse("lcov.info", lcov).unwrap();
        assert_eq!(f["/w/src/a.rs"], (2, 1));
        assert_eq!(f["src/b.rs"], (4, 4));
        let xml = r#"<?xml version="1.0" ?><coverage line-rate="0.5" lines-valid="6" lines-covered="5">
            <packages><package><classes>
            <class name="a" filename="src/a.py" line-rate="0.5"><lines><line number="1" hits="3"/><line number="2" hits="0"/></lines></class>
            <class name="b" filename='src/b.py'><lines><line number="1" hits="1"/></lines></class>
            </classes></package></packages></coverage>"#;
        let (fmt, f, o) = parse("coverage.xml", xml).unwrap();
        assert_eq!(fmt, "cobertura");
        assert_eq!(f["src/a.py"], (2, 1));
        assert_eq!(f["src/b.py"], (1, 1));
        assert_eq!(o, Some((6, 5)));
        let cov_py = r#"{"files": {"a.py": {"summary": {"num_statements": 10, "covered_lines": 2}}}, "totals": {"num_statements": 10, "covered_lines": 2}}"#;
        let (fmt, f, o) = parse("coverage.json", cov_py).unwrap();
        assert_eq!((fmt, f["a.py"], o), ("coverage.py", (10, 2), Some((10, 2))));
        let istanbul =
            r#"{"total": {"lines": {"total": 4, "covered": 1}}, "/x/a.js": {"lines": {"total": 4, "covered": 1}}}"#;
        let (fmt, f, _) = parse("coverage-summary.json", istanbul).unwrap();
        assert_eq!((fmt, f["/x/a.js"]), ("istanbul", (4, 1)));
        assert!(parse("lcov.info", "garbage\n").is_err());
        assert!(parse("coverage.json", "{\"x\": 1}").is_err());
    }
}
