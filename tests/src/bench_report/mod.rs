//! `tally-bench-report`: turns what `make bench` measured (criterion's estimates, the
//! apply+commit benchmark's JSON lines, `tally-load`'s JSON) into the generated section of
//! `docs/BENCHMARKS.md`: the machine, the commands, the tables, and the ceiling computed from the
//! micro-benchmarks against the committed rate of the same run.

pub mod inputs;
pub mod machine;
pub mod render;

/// The first line of the generated section.
pub const BEGIN: &str = "<!-- make bench: begin";
/// The last line of the generated section.
pub const END: &str = "<!-- make bench: end -->";

/// `doc` with its generated section replaced by `section` (which starts with [`BEGIN`] and ends
/// with [`END`]); a document without one gets it after its title line.
pub fn splice(doc: &str, section: &str) -> Result<String, String> {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = end + END.len();
            Ok(format!("{}{}{}", &doc[..begin], section.trim_end(), &doc[after..]))
        }
        (None, None) => {
            let (title, rest) = doc.split_once('\n').unwrap_or((doc, ""));
            Ok(format!("{title}\n\n{}\n{rest}", section.trim_end()))
        }
        _ => Err(format!("the document's markers are out of order or one is missing ({BEGIN} ... {END})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(body: &str) -> String {
        format!("{BEGIN} -->\n{body}\n{END}\n")
    }

    #[test]
    fn a_generated_section_replaces_the_one_between_the_markers_and_nothing_else() {
        let doc = format!("# Benchmarks\n\nintro\n\n{}\n## History\nold runs\n", section("old table").trim_end());
        let out = splice(&doc, &section("new table")).unwrap();
        assert_eq!(
            out,
            format!("# Benchmarks\n\nintro\n\n{}\n## History\nold runs\n", section("new table").trim_end())
        );
        // Running it again changes nothing.
        assert_eq!(splice(&out, &section("new table")).unwrap(), out);
    }

    #[test]
    fn a_document_without_a_section_gets_one_under_its_title() {
        let out = splice("# Benchmarks\nhistory\n", &section("table")).unwrap();
        assert_eq!(out, format!("# Benchmarks\n\n{}\nhistory\n", section("table").trim_end()));
    }

    #[test]
    fn a_half_marked_document_is_refused_rather_than_mangled() {
        assert!(splice(&format!("# B\n{END}\n"), &section("t")).is_err());
        assert!(splice(&format!("# B\n{END}\n{BEGIN} -->\n"), &section("t")).is_err());
    }
}
