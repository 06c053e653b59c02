//! Aligned text tables for human output: a header line, columns padded to their widest cell, and,
//! when a terminal width is given, the columns that may shrink cut with `…` so that every line
//! fits. Cells must already be safe to print (control characters escaped).

use crate::text::{display_width, truncate_to_width};

pub struct Column {
    pub header: &'static str,
    /// `Some((order, min))`: the column may be cut down to `min` columns to fit the terminal;
    /// lower orders are cut first. `None`: never cut.
    pub shrink: Option<(u8, usize)>,
}

impl Column {
    pub const fn fixed(header: &'static str) -> Self {
        Column { header, shrink: None }
    }

    pub const fn shrinks(header: &'static str, order: u8, min: usize) -> Self {
        Column {
            header,
            shrink: Some((order, min)),
        }
    }
}

const GAP: &str = "  ";

/// The table as lines of text, header first. The last column is not padded, and no line ends
/// with spaces.
pub fn render(columns: &[Column], rows: &[Vec<String>], width: Option<usize>) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| display_width(c.header)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(display_width(cell));
        }
    }
    if let Some(limit) = width {
        let total = |widths: &[usize]| widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1);
        let mut order: Vec<(u8, usize, usize)> = columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.shrink.map(|(o, min)| (o, i, min)))
            .collect();
        order.sort();
        for (_, i, min) in order {
            let excess = total(&widths).saturating_sub(limit);
            if excess == 0 {
                break;
            }
            widths[i] -= excess.min(widths[i].saturating_sub(min));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = columns.iter().map(|c| c.header.to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            let shown = truncate_to_width(cell, *w);
            line.push_str(&shown);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(w.saturating_sub(display_width(&shown))));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        Column::fixed("ID"),
        Column::shrinks("NAME", 1, 4),
        Column::shrinks("GOAL", 0, 5),
    ];

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec!["a1".into(), "branch-name".into(), "A long goal to do things".into()],
            vec!["b2".into(), "日本語".into(), "short".into()],
        ]
    }

    #[test]
    fn columns_line_up_under_a_header() {
        let text = render(&COLUMNS, &rows(), None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID  NAME         GOAL");
        assert_eq!(lines[1], "a1  branch-name  A long goal to do things");
        assert_eq!(lines[2], "b2  日本語       short");
    }

    #[test]
    fn a_narrow_terminal_cuts_the_shrinkable_columns_in_order() {
        let text = render(&COLUMNS, &rows(), Some(24));
        for line in text.lines() {
            assert!(display_width(line) <= 24, "{line:?}");
        }
        assert!(text.contains("branch-name"), "the goal is cut first:\n{text}");
        let text = render(&COLUMNS, &rows(), Some(14));
        assert!(text.lines().nth(1).unwrap().starts_with("a1  bra…  A lo…"), "{text}");
    }
}
