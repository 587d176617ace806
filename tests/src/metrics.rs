//! Reads the Prometheus text exposition format, so tests check values, not substrings.

use std::collections::BTreeMap;

/// One sample: a metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The name, with its suffix (`_total`, `_bucket`, `_count`...).
    pub name: String,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// Every sample of a scrape, in order; `# HELP`, `# TYPE`, `# UNIT` and `# EOF` lines are
/// skipped. Panics on a line that is not a sample, naming it.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| parse_line(line).unwrap_or_else(|| panic!("not a sample: `{line}`")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inside.strip_prefix('}') {
                break after;
            }
            let (key, after) = inside.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.insert(key.trim_start_matches(',').to_owned(), value);
            inside = after[end + 1..].trim_start_matches(',');
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The value of the sample named `name` whose labels include all of `labels`; `None` when
/// there is none, and a panic when several match (the test should say more).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "several samples match {name} {labels:?}: {matching:?}"
    );
    matching.first().map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels() {
        let samples = parse(
            "# HELP x_total X.\n# TYPE x counter\nx_total{route=\"a\\\"b\",method=\"GET\"} 3\n\
             y 1.5\nz_bucket{le=\"+Inf\"} 2\n# EOF\n",
        );
        assert_eq!(value(&samples, "x_total", &[("route", "a\"b")]), Some(3.0));
        assert_eq!(value(&samples, "y", &[]), Some(1.5));
        assert_eq!(value(&samples, "z_bucket", &[("le", "+Inf")]), Some(2.0));
    }
}
