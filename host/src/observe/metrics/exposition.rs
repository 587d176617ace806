//! The two text formats a scraper may ask for. The registry writes OpenMetrics 1.0; a scraper
//! that asks only for the Prometheus text format 0.0.4 (Prometheus' own client libraries, many
//! agents, `curl`) gets that format, whose rules differ: a counter's `# TYPE` line names its
//! `_total` series, there is no `# UNIT`, no `# EOF`, no exemplars and no `_created` series.
//! Serving OpenMetrics under the 0.0.4 content type (what this gateway once did) makes such a
//! parser read every counter family as empty and its samples as untyped.

/// A text format for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 (`application/openmetrics-text`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`).
    Prometheus,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a weight at least that of `text/plain` (Prometheus
    /// sends both, OpenMetrics first), else the 0.0.4 text format, which is also the answer to
    /// a request with no `Accept` at all.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Prometheus;
        };
        let mut openmetrics = 0.0_f32;
        let mut text = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(weight);
            } else if media.eq_ignore_ascii_case("text/plain") {
                text = text.max(weight);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Rewrites OpenMetrics text, as the registry writes it, in the 0.0.4 text format.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut family = Family::default();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (keyword, name, tail) = (
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
            );
            if name != family.name {
                family.flush(&mut out);
                family = Family {
                    name: name.to_owned(),
                    ..Family::default()
                };
            }
            match keyword {
                "HELP" => family.help = Some(tail.to_owned()),
                "TYPE" => family.kind = tail.to_owned(),
                // `# UNIT` and `# EOF` have no 0.0.4 counterpart.
                _ => {}
            }
        } else if !line.is_empty() {
            family.samples.push(line.to_owned());
        }
    }
    family.flush(&mut out);
    out
}

/// One metric family's lines, gathered until the next family starts.
#[derive(Default)]
struct Family {
    name: String,
    help: Option<String>,
    kind: String,
    samples: Vec<String>,
}

impl Family {
    fn flush(&mut self, out: &mut String) {
        if self.name.is_empty() && self.samples.is_empty() {
            return;
        }
        // 0.0.4 names the family after its series; OpenMetrics after the metric.
        let (name, kind) = match self.kind.as_str() {
            "counter" => (format!("{}_total", self.name), "counter"),
            "info" => (format!("{}_info", self.name), "gauge"),
            "gauge" | "histogram" | "summary" => (self.name.clone(), self.kind.as_str()),
            "stateset" => (self.name.clone(), "gauge"),
            _ => (self.name.clone(), "untyped"),
        };
        if let Some(help) = &self.help {
            // OpenMetrics escapes `"` in help text; 0.0.4 does not.
            out.push_str(&format!("# HELP {name} {}\n", help.replace("\\\"", "\"")));
        }
        out.push_str(&format!("# TYPE {name} {kind}\n"));
        for sample in &self.samples {
            let sample = without_exemplar(sample);
            if self.kind == "counter" && series_name(sample) != name {
                // `_created`: 0.0.4 has no such series.
                continue;
            }
            out.push_str(sample);
            out.push('\n');
        }
    }
}

/// The series name of a sample line (`name{labels} value` or `name value`).
fn series_name(sample: &str) -> &str {
    let end = sample.find(['{', ' ']).unwrap_or(sample.len());
    &sample[..end]
}

/// A sample line without its exemplar (` # {labels} value`), which 0.0.4 does not have. The
/// exemplar starts after the label set, whose quoted values may themselves hold ` # `.
fn without_exemplar(sample: &str) -> &str {
    let mut after_labels = 0;
    // A label set opens right after the name, before any space.
    if let Some(open) = sample
        .find(['{', ' '])
        .filter(|&i| sample[i..].starts_with('{'))
    {
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in sample[open..].char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '}' if !quoted => {
                    after_labels = open + i + 1;
                    break;
                }
                _ => {}
            }
        }
    }
    match sample[after_labels..].find(" # ") {
        Some(at) => &sample[..after_labels + at],
        None => sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics_first_and_gets_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    }

    #[test]
    fn no_accept_a_wildcard_or_text_gets_the_0_0_4_format() {
        for accept in [None, Some("*/*"), Some("text/plain;version=0.0.4")] {
            assert_eq!(Format::negotiate(accept), Format::Prometheus, "{accept:?}");
        }
        let text_preferred = "application/openmetrics-text;q=0.2, text/plain";
        assert_eq!(Format::negotiate(Some(text_preferred)), Format::Prometheus);
        let refused = "application/openmetrics-text;q=0";
        assert_eq!(Format::negotiate(Some(refused)), Format::Prometheus);
    }

    #[test]
    fn counters_are_typed_by_their_total_series_in_0_0_4() {
        let openmetrics = "\
# HELP portcullis_requests Requests \"answered\".
# TYPE portcullis_requests counter
portcullis_requests_total{route=\"a\"} 3
portcullis_requests_created{route=\"a\"} 1700000000.0
# HELP portcullis_duration_seconds Time.
# TYPE portcullis_duration_seconds histogram
# UNIT portcullis_duration_seconds seconds
portcullis_duration_seconds_bucket{le=\"+Inf\"} 1 # {trace_id=\"a # b\"} 0.5
portcullis_duration_seconds_sum 0.5
portcullis_duration_seconds_count 1
# HELP portcullis_build Build.
# TYPE portcullis_build info
portcullis_build_info{version=\"1\"} 1
# EOF
";
        let expected = "\
# HELP portcullis_requests_total Requests \"answered\".
# TYPE portcullis_requests_total counter
portcullis_requests_total{route=\"a\"} 3
# HELP portcullis_duration_seconds Time.
# TYPE portcullis_duration_seconds histogram
portcullis_duration_seconds_bucket{le=\"+Inf\"} 1
portcullis_duration_seconds_sum 0.5
portcullis_duration_seconds_count 1
# HELP portcullis_build_info Build.
# TYPE portcullis_build_info gauge
portcullis_build_info{version=\"1\"} 1
";
        assert_eq!(to_prometheus_text(openmetrics), expected);
    }

    #[test]
    fn a_label_value_holding_a_hash_is_not_taken_for_an_exemplar() {
        let sample = r#"x_total{path="/a # b"} 1"#;
        assert_eq!(without_exemplar(sample), sample);
        assert_eq!(without_exemplar("x_total 1 # {a=\"b\"} 1"), "x_total 1");
    }
}
