//! The key table of `keyctl list`: drawn to fit a terminal, or tab-separated for scripts.
//!
//! On a terminal, ids, times and statuses are never cut or wrapped (an id must stay one
//! double-clickable word); free text is cut short with `…`, and when even that is not
//! enough, the least important columns are left out. No line is wider than the terminal.

use std::io::Write;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::output::sanitize;
use crate::error::Result;
use crate::key::Key;

/// How a column's values may be shown when space is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Always whole: ids, times, statuses.
    Whole,
    /// Free text, cut short with `…` to fit.
    Cut,
}

/// One column of the table.
struct Column {
    /// Header on a terminal.
    header: &'static str,
    /// Header in plain output: one word, so that the header line splits like the rows.
    word: &'static str,
    fit: Fit,
    /// Lower comes first: on a narrow terminal the highest numbers are left out.
    rank: u8,
}

/// The columns in the order they are shown.
const COLUMNS: [Column; 9] = [
    col("ID", "ID", Fit::Whole, 0),
    col("USER", "USER", Fit::Cut, 1),
    col("NAME", "NAME", Fit::Cut, 2),
    col("STATUS", "STATUS", Fit::Whole, 3),
    col("EXPIRES", "EXPIRES", Fit::Whole, 4),
    col("PATHS", "PATHS", Fit::Cut, 6),
    col("LAST USED", "LAST_USED", Fit::Whole, 5),
    col("CREATED", "CREATED", Fit::Whole, 7),
    col("DESCRIPTION", "DESCRIPTION", Fit::Cut, 8),
];

const fn col(header: &'static str, word: &'static str, fit: Fit, rank: u8) -> Column {
    Column {
        header,
        word,
        fit,
        rank,
    }
}

/// Columns of this rank and better are shown whenever they fit at all, each free-text one
/// cut down to its header if need be. The others are shown only when every shown free-text
/// column can still have [`ROOMY`] columns.
const CORE_RANK: u8 = 4;

/// The width a free-text column is allowed to shrink to before an optional column is
/// left out to make room.
const ROOMY: usize = 12;

/// The text of each cell of one key, in [`COLUMNS`] order: escaped, `-` when empty.
fn cells(k: &Key) -> [String; 9] {
    fn text(s: &str) -> String {
        if s.is_empty() {
            "-".to_owned()
        } else {
            sanitize(s)
        }
    }
    fn time(t: Option<crate::time::Timestamp>) -> String {
        t.map_or_else(|| "-".to_owned(), |t| t.to_string())
    }
    [
        text(&k.id),
        text(&k.user),
        text(k.name.as_deref().unwrap_or_default()),
        k.status.as_str().to_owned(),
        time(k.expires),
        // Prefixes never contain whitespace (commas they may): a space keeps two prefixes
        // apart from one prefix with a comma in it.
        text(&k.paths.join(" ")),
        time(k.last_used),
        k.created.to_string(),
        text(k.description.as_deref().unwrap_or_default()),
    ]
}

/// Print keys as a table drawn for a terminal `width` columns wide (`None`: width unknown,
/// nothing is fitted), or as tab-separated lines when not `decorate`.
pub fn print(keys: &[Key], decorate: bool, width: Option<usize>) -> Result<()> {
    let rows: Vec<[String; 9]> = keys.iter().map(cells).collect();
    let text = if decorate {
        draw(&rows, width)
    } else {
        plain(&rows)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(crate::error::Error::Output)
}

/// A header line of one word per column, then one line per key, fields separated by tabs.
/// Values are whole; control characters (tabs and newlines among them) arrive escaped.
fn plain(rows: &[[String; 9]]) -> String {
    let mut text = COLUMNS.map(|c| c.word).join("\t");
    text.push('\n');
    for row in rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    text
}

/// A box-drawn table whose lines are at most `width` columns wide when that is possible.
fn draw(rows: &[[String; 9]], width: Option<usize>) -> String {
    let natural: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].width())
                .max()
                .unwrap_or(0)
                .max(c.header.width())
        })
        .collect();
    let widths = layout(&natural, width);
    let shown: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect();

    let mut text = String::new();
    let rule = |text: &mut String, [left, fill, join, right]: [&str; 4]| {
        text.push_str(left);
        for (n, &(_, w)) in shown.iter().enumerate() {
            if n > 0 {
                text.push_str(join);
            }
            text.push_str(&fill.repeat(w + 2));
        }
        text.push_str(right);
        text.push('\n');
    };
    let line = |text: &mut String, cell: &dyn Fn(usize) -> String| {
        text.push('│');
        for (n, &(i, w)) in shown.iter().enumerate() {
            if n > 0 {
                text.push('┆');
            }
            let value = cut(&cell(i), w);
            text.push(' ');
            text.push_str(&value);
            text.push_str(&" ".repeat(w.saturating_sub(value.width()) + 1));
        }
        text.push_str("│\n");
    };
    rule(&mut text, ["┌", "─", "┬", "┐"]);
    line(&mut text, &|i| COLUMNS[i].header.to_owned());
    rule(&mut text, ["╞", "═", "╪", "╡"]);
    for row in rows {
        line(&mut text, &|i| row[i].clone());
    }
    rule(&mut text, ["└", "─", "┴", "┘"]);
    text
}

/// Columns taken by borders and padding around `n` columns: `│ a ┆ b │`.
fn frame(n: usize) -> usize {
    3 * n + 1
}

/// The width of each column (`None`: left out) for a table at most `width` columns wide,
/// given the width each column's widest value needs (`natural`, in [`COLUMNS`] order).
/// Unknown width: every column, whole.
fn layout(natural: &[usize], width: Option<usize>) -> Vec<Option<usize>> {
    let Some(width) = width else {
        return natural.iter().map(|&w| Some(w)).collect();
    };
    // The least a column can have: free text down to its header (or `roomy`), the rest whole.
    let least = |i: usize, roomy: usize| match COLUMNS[i].fit {
        Fit::Whole => natural[i],
        Fit::Cut => natural[i].min(COLUMNS[i].header.width().max(roomy)),
    };
    let fits = |chosen: &[usize], roomy: usize| {
        frame(chosen.len()) + chosen.iter().map(|&i| least(i, roomy)).sum::<usize>() <= width
    };
    let mut by_rank: Vec<usize> = (0..COLUMNS.len()).collect();
    by_rank.sort_by_key(|&i| COLUMNS[i].rank);

    // Core columns in rank order while they fit, cut to the bone; the id even when it does
    // not, as nothing else could be shown. Then optional columns in rank order, while every
    // free-text column keeps room to be readable.
    let mut chosen: Vec<usize> = Vec::new();
    for &i in &by_rank {
        chosen.push(i);
        let roomy = if COLUMNS[i].rank <= CORE_RANK {
            0
        } else {
            ROOMY
        };
        if !fits(&chosen, roomy) {
            if chosen.len() > 1 {
                chosen.pop();
            }
            break;
        }
    }

    // Whole columns get what they need; free-text ones share the rest fairly: none gets
    // more than it needs, and a column that needs little gets all of it.
    let fixed: usize = chosen
        .iter()
        .filter(|&&i| COLUMNS[i].fit == Fit::Whole)
        .map(|&i| natural[i])
        .sum();
    let free: Vec<usize> = chosen
        .iter()
        .copied()
        .filter(|&i| COLUMNS[i].fit == Fit::Cut)
        .collect();
    let room = width.saturating_sub(frame(chosen.len()) + fixed);
    let lows: Vec<usize> = free.iter().map(|&i| least(i, 0)).collect();
    let highs: Vec<usize> = free.iter().map(|&i| natural[i]).collect();
    let shares = share(room, &lows, &highs);

    let mut widths = vec![None; COLUMNS.len()];
    for &i in &chosen {
        widths[i] = Some(natural[i]);
    }
    for (&i, w) in free.iter().zip(shares) {
        widths[i] = Some(w);
    }
    widths
}

/// Split `room` among columns that need at least `lows[i]` and at most `highs[i]`: every
/// column gets `clamp(level, low, high)` for the highest level that fits, and what is left
/// goes one by one to the first columns that can still use it.
fn share(room: usize, lows: &[usize], highs: &[usize]) -> Vec<usize> {
    let at = |level: usize| -> Vec<usize> {
        lows.iter()
            .zip(highs)
            .map(|(&lo, &hi)| level.clamp(lo, hi.max(lo)))
            .collect()
    };
    let total = |level: usize| at(level).iter().sum::<usize>();
    let (mut lo, mut hi) = (0, highs.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if total(mid) <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut widths = at(lo);
    let mut left = room.saturating_sub(widths.iter().sum());
    for (w, &high) in widths.iter_mut().zip(highs) {
        if left > 0 && *w < high {
            *w += 1;
            left -= 1;
        }
    }
    widths
}

/// `text` cut to at most `width` terminal columns, ending in `…` when cut.
fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let Some(keep) = width.checked_sub(1) else {
        return String::new();
    };
    // Sum character widths to find the cut cheaply, then back off while the string's own
    // width (which knows about sequences such as emoji with selectors) is too wide.
    let mut end = 0;
    let mut sum = 0;
    for (at, c) in text.char_indices() {
        sum += c.width().unwrap_or(0);
        if sum > keep {
            break;
        }
        end = at + c.len_utf8();
    }
    let mut head = &text[..end];
    while head.width() > keep {
        let mut chars = head.chars();
        chars.next_back();
        head = chars.as_str();
    }
    format!("{head}…")
}

/// The width of the terminal on stdout; `None` when it is not a terminal or reports a width
/// of 0 (a pty nobody sized, as under `docker run -t` or `script`), which would otherwise
/// squeeze every column to nothing.
pub fn terminal_width() -> Option<usize> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(header: &str) -> usize {
        COLUMNS.iter().position(|c| c.header == header).unwrap()
    }

    /// Natural widths: a 16-character id, long user, name, paths and description, every
    /// time set, a status of 8.
    fn long() -> Vec<usize> {
        vec![16, 64, 64, 8, 20, 300, 20, 20, 1000]
    }

    fn total(widths: &[Option<usize>]) -> usize {
        let shown: Vec<usize> = widths.iter().flatten().copied().collect();
        frame(shown.len()) + shown.iter().sum::<usize>()
    }

    fn headers(widths: &[Option<usize>]) -> Vec<&'static str> {
        widths
            .iter()
            .zip(&COLUMNS)
            .filter(|(w, _)| w.is_some())
            .map(|(_, c)| c.header)
            .collect()
    }

    #[test]
    fn long_values_fill_the_terminal_exactly_and_keep_whole_columns_whole() {
        for width in 60..=400 {
            let natural = long();
            let widths = layout(&natural, Some(width));
            assert!(total(&widths) <= width, "{width}: {widths:?}");
            assert_eq!(widths[0], Some(16), "the id is always shown");
            for (i, c) in COLUMNS.iter().enumerate() {
                if let (Fit::Whole, Some(w)) = (c.fit, widths[i]) {
                    assert_eq!(w, natural[i], "{width}: {} cut", c.header);
                }
                if let Some(w) = widths[i] {
                    assert!(w >= c.header.width(), "{width}: {} header cut", c.header);
                }
            }
            // Long free text takes all the room there is.
            if width >= 68 {
                assert_eq!(total(&widths), width, "{width}: {widths:?}");
            }
        }
    }

    #[test]
    fn narrow_terminals_leave_out_the_least_important_columns() {
        let at = |w| headers(&layout(&long(), Some(w)));
        let core = ["ID", "USER", "NAME", "STATUS", "EXPIRES"];
        assert_eq!(at(80), core);
        assert_eq!(at(100), core);
        assert_eq!(
            at(120),
            ["ID", "USER", "NAME", "STATUS", "EXPIRES", "LAST USED"]
        );
        assert_eq!(
            at(150),
            [
                "ID",
                "USER",
                "NAME",
                "STATUS",
                "EXPIRES",
                "PATHS",
                "LAST USED",
                "CREATED"
            ]
        );
        assert_eq!(at(159).len(), COLUMNS.len() - 1);
        assert_eq!(at(160).len(), COLUMNS.len());
        assert_eq!(at(200).len(), COLUMNS.len());
        // Below what the core needs, it loses columns from its end; the id stays.
        assert_eq!(at(60), ["ID", "USER", "NAME", "STATUS"]);
        assert_eq!(at(10), ["ID"]);
    }

    #[test]
    fn short_values_are_never_cut_and_unknown_width_fits_nothing() {
        let natural = vec![16, 4, 6, 6, 7, 5, 9, 20, 11];
        let widths = layout(&natural, Some(120));
        assert_eq!(widths, natural.iter().map(|&w| Some(w)).collect::<Vec<_>>());
        let widths = layout(&long(), None);
        assert_eq!(widths, long().into_iter().map(Some).collect::<Vec<_>>());
        assert_eq!(widths[index("DESCRIPTION")], Some(1000));
    }

    #[test]
    fn room_is_shared_fairly() {
        assert_eq!(share(30, &[3, 4, 4], &[3, 100, 100]), [3, 14, 13]);
        assert_eq!(share(30, &[4, 4, 4], &[5, 100, 100]), [5, 13, 12]);
        assert_eq!(share(300, &[4, 4], &[5, 10]), [5, 10]);
        assert_eq!(share(0, &[4, 4], &[50, 10]), [4, 4]);
    }

    #[test]
    fn cut_marks_what_it_cut_and_counts_terminal_columns() {
        assert_eq!(cut("deploy", 6), "deploy");
        assert_eq!(cut("deploy", 5), "depl…");
        assert_eq!(cut("deploy", 1), "…");
        assert_eq!(cut("deploy", 0), "");
        assert_eq!(cut("データ基盤", 6), "デー…");
        assert_eq!(cut("データ基盤", 6).width(), 5);
        for w in 0..12 {
            assert!(cut("a データ b", w).width() <= w);
        }
    }

    #[test]
    fn plain_rows_have_as_many_fields_as_the_header() {
        let rows =
            vec![["a", "b\\tc", "-", "active", "-", "/x /y", "-", "t", "d e"].map(String::from)];
        let text = plain(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ID\tUSER\tNAME\tSTATUS\tEXPIRES\tPATHS\tLAST_USED\tCREATED\tDESCRIPTION"
        );
        assert_eq!(lines[1].split('\t').count(), 9);
    }
}
