//! The length rule: no function outside tests is longer than [`MAX_FUNCTION_LINES`], so
//! each reads at a glance. Lengths are counted from the `fn` line to the closing brace,
//! with comments, strings and character literals blanked first (a brace inside them does
//! not count); `#[cfg(test)]` modules and `tests/` folders are tests and not counted.

use std::fs;
use std::path::{Path, PathBuf};

/// The most lines a function outside tests may have.
pub(crate) const MAX_FUNCTION_LINES: usize = 100;

/// A function longer than the rule allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LongFunction {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) lines: usize,
}

/// Every function over the limit in the Rust sources of the member at `place` under
/// `root` (its `src/` and `examples/`), as `file:line fn name has N lines`.
pub(crate) fn check_member(root: &Path, place: &str) -> Vec<String> {
    let mut files = Vec::new();
    for sub in ["src", "examples"] {
        rust_files(&root.join(place).join(sub), &mut files);
    }
    let mut problems = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        for long in long_functions(&text, MAX_FUNCTION_LINES) {
            problems.push(format!(
                "{}:{} fn {} has {} lines; at most {MAX_FUNCTION_LINES} outside tests",
                file.strip_prefix(root).unwrap_or(&file).display(),
                long.line,
                long.name,
                long.lines
            ));
        }
    }
    problems
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The functions of `source` longer than `max` lines, outside `#[cfg(test)]` modules.
pub(crate) fn long_functions(source: &str, max: usize) -> Vec<LongFunction> {
    let code = blank_non_code(source);
    let bytes = code.as_bytes();
    let tests = test_modules(&code);
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = code[at..].find("fn ") {
        let start = at + offset;
        at = start + 3;
        let preceded_by_word = start > 0 && is_word(bytes[start - 1]);
        if preceded_by_word || tests.iter().any(|(a, b)| (*a..=*b).contains(&start)) {
            continue;
        }
        let name: String = code[start + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = body_start(bytes, start + 3) else {
            continue;
        };
        let Some(close) = matching_brace(bytes, open) else {
            continue;
        };
        let line = line_of(&code, start);
        let lines = line_of(&code, close) - line + 1;
        if lines > max {
            found.push(LongFunction { name, line, lines });
        }
    }
    found
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn line_of(code: &str, offset: usize) -> usize {
    code[..offset].matches('\n').count() + 1
}

/// Where a function's body opens: the first `{` outside brackets after its name, or
/// `None` for a declaration ending in `;`.
fn body_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, byte) in bytes.iter().enumerate().skip(from) {
        match byte {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' | b'>' => depth -= 1,
            b';' if depth <= 0 => return None,
            b'{' if depth <= 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, byte) in bytes.iter().enumerate().skip(open) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte ranges of `#[cfg(test)]` modules.
fn test_modules(code: &str) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut at = 0;
    while let Some(offset) = code[at..].find("#[cfg(test)]") {
        let start = at + offset;
        at = start + 1;
        let rest = code[start + 12..].trim_start();
        let rest = rest.strip_prefix("pub(crate) ").unwrap_or(rest);
        if !rest.starts_with("mod ") {
            continue;
        }
        let Some(open) = code[start..].find('{').map(|o| start + o) else {
            continue;
        };
        if let Some(close) = matching_brace(code.as_bytes(), open) {
            ranges.push((start, close));
        }
    }
    ranges
}

/// `source` with comments, strings and character literals replaced by spaces (newlines
/// kept), so braces inside them do not count.
fn blank_non_code(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => block_comment_end(bytes, i),
            b'r' | b'b' if raw_string_at(bytes, i).is_some() => raw_string_at(bytes, i),
            b'"' => Some(string_end(bytes, i)),
            b'\'' => char_literal_end(bytes, i),
            _ => None,
        };
        match end {
            Some(end) => {
                for byte in &mut out[i..end] {
                    if *byte != b'\n' {
                        *byte = b' ';
                    }
                }
                i = end;
            }
            None => i += 1,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn line_end(bytes: &[u8], from: usize) -> Option<usize> {
    Some(
        bytes[from..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| from + p),
    )
}

fn block_comment_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = from;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    Some(bytes.len())
}

/// The end of a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `from`, if one does.
fn raw_string_at(bytes: &[u8], from: usize) -> Option<usize> {
    if from > 0 && is_word(bytes[from - 1]) {
        return None;
    }
    let mut i = from;
    if bytes[i] == b'b' {
        i += 1;
    }
    if bytes.get(i) != Some(&b'r') {
        return None;
    }
    i += 1;
    let hashes = bytes[i..].iter().take_while(|b| **b == b'#').count();
    i += hashes;
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    while i < bytes.len() {
        if bytes[i] == b'"' && bytes[i + 1..].iter().take(hashes).all(|b| *b == b'#') {
            return Some((i + 1 + hashes).min(bytes.len()));
        }
        i += 1;
    }
    Some(bytes.len())
}

fn string_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a character literal at `from` (`'a'`, `'\n'`, `'\u{1F600}'`), or `None`
/// for a lifetime.
fn char_literal_end(bytes: &[u8], from: usize) -> Option<usize> {
    if bytes.get(from + 1) == Some(&b'\\') {
        let close = bytes[from + 2..]
            .iter()
            .take(10)
            .position(|b| *b == b'\'')?;
        return Some(from + 2 + close + 1);
    }
    let text = std::str::from_utf8(&bytes[from + 1..]).ok().or_else(|| {
        let end = (from + 6).min(bytes.len());
        std::str::from_utf8(&bytes[from + 1..end]).ok()
    })?;
    let c = text.chars().next()?;
    let after = from + 1 + c.len_utf8();
    (bytes.get(after) == Some(&b'\'')).then_some(after + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(lines: usize) -> String {
        let body: String = (0..lines.saturating_sub(2))
            .map(|i| format!("    let _x{i} = \"}}\"; // }}\n"))
            .collect();
        format!("fn long() {{\n{body}}}\n")
    }

    #[test]
    fn long_functions_are_found_and_tests_are_not_counted() {
        let source = format!(
            "{}fn short() {{ '}}'; }}\n#[cfg(test)]\nmod tests {{\n{}}}\n",
            function(101),
            function(150)
        );
        let found = long_functions(&source, 100);
        assert_eq!(
            found,
            [LongFunction {
                name: "long".to_owned(),
                line: 1,
                lines: 101
            }]
        );
        assert!(long_functions(&function(100), 100).is_empty());
    }

    #[test]
    fn braces_in_strings_comments_and_chars_do_not_count() {
        let source =
            "fn a() -> &'static str {\n    let _ = '{';\n    /* { */\n    r#\"{\"#\n}\nfn b() {}\n";
        let code = blank_non_code(source);
        assert_eq!(code.matches('{').count(), 2, "{code}");
        assert_eq!(code.lines().count(), source.lines().count());
    }
}
