//! The text log's field formatter: every field value and message is written with its control
//! characters escaped (`\n`, `\r`, `\t`, others as `\u{1b}`), and the
//! Unicode direction overrides too, so a file named
//! `evil\n2026-… ERROR forged` or a module's log text cannot forge a line
//! or move the cursor. JSON logs need none of this: JSON escapes them.

use std::fmt::{self, Write};

use tracing::field::Field;
use tracing_subscriber::fmt::format::Writer;

/// Writes one field as `name=value` (the message bare), escaped.
pub fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let name = field.name();
    if name != "message" {
        write!(writer, "{}=", name.strip_prefix("r#").unwrap_or(name))?;
    }
    write!(Escaping(writer), "{value:?}")
}

/// `text` with its control characters escaped, e.g. for the exit error.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = Escaping(&mut out).write_str(text);
    out
}

/// A writer that escapes what it is given, then hands it on.
struct Escaping<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(needs_escape) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().expect("found at a character");
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                _ => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// Control characters, and the marks that reorder text on screen.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let forged = "in/evil\n2026-12-07T10:00:00Z ERROR forged\r\t\u{1b}[31mred\u{7f}\u{202e}txt.json";
        assert_eq!(
            escaped(forged),
            "in/evil\\n2026-12-07T10:00:00Z ERROR forged\\r\\t\\u{1b}[31mred\\u{7f}\\u{202e}txt.json"
        );
        assert_eq!(escaped("plain, ünïcode ✓"), "plain, ünïcode ✓");
    }
}
