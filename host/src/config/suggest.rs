//! "Did you mean ...?" for misspelt keys and names: the closest candidate by edit distance.

/// The candidate closest to `word`, if close enough to be a plausible typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                distance(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A help line: `did you mean "x"? WHAT: "a", "b"` (or just the list, or `there are no WHAT`).
pub(super) fn help(word: &str, what: &str, candidates: &[&str]) -> String {
    let list = quoted(candidates);
    match closest(word, candidates.iter().copied()) {
        Some(best) => format!("did you mean `{best}`? {what}: {list}"),
        None if candidates.is_empty() => format!("there are no {what}"),
        None => format!("{what}: {list}"),
    }
}

/// `a`, `b`, `c`.
pub(super) fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_suggests_the_nearest_name_and_nonsense_suggests_nothing() {
        let names = ["key-auth", "headers", "path-rewrite"];
        assert_eq!(closest("key-aut", names), Some("key-auth"));
        assert_eq!(closest("Headers", names), Some("headers"));
        assert_eq!(closest("zzz", names), None);
    }
}
