//! Placeholder rewriting: one SQL text for both backends is written with SQLite's `?1`, `?2`
//! (or bare `?`) placeholders and rewritten to PostgreSQL's `$1`, `$2` by a small lexer that
//! leaves string literals, quoted identifiers, dollar-quoted bodies and comments alone.

use crate::error::{DbError, Result};

/// `sql` with every `?N` placeholder written `$N` and every bare `?` numbered after the
/// highest number seen so far (SQLite's rule). Fails on a placeholder numbered 0 or above
/// 65535 (PostgreSQL's limit), or on text left open (an unterminated literal or comment).
pub fn to_postgres(sql: &str) -> Result<String> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut i = 0;
    let mut start = 0; // first byte not yet copied
    let mut highest: u32 = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => {
                let quote = b[i];
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(unterminated("a quoted string or identifier")),
                        // A doubled quote is the quote itself.
                        Some(&c) if c == quote && b.get(i + 1) == Some(&quote) => i += 2,
                        Some(&c) if c == quote => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // PostgreSQL nests block comments; SQLite does not, but nobody writes `/*`
                // inside a comment meaning it as text.
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (b.get(i), b.get(i + 1)) {
                        (None, _) => return Err(unterminated("a /* comment")),
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'$' => {
                // A dollar-quoted body ($$...$$, $tag$...$tag$); `$1` is a parameter.
                let tag_end = b[i + 1..]
                    .iter()
                    .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                    .map(|p| i + 1 + p);
                let is_quote = tag_end
                    .is_some_and(|e| b[e] == b'$' && !b.get(i + 1).is_some_and(u8::is_ascii_digit));
                if let (true, Some(e)) = (is_quote, tag_end) {
                    let tag = &sql[i..=e];
                    match sql[e + 1..].find(tag) {
                        Some(p) => i = e + 1 + p + tag.len(),
                        None => return Err(unterminated("a dollar-quoted string")),
                    }
                } else {
                    i += 1;
                }
            }
            b'?' => {
                out.push_str(&sql[start..i]);
                i += 1;
                let digits_end = b[i..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(b.len(), |p| i + p);
                let n = if digits_end > i {
                    let n: u32 = sql[i..digits_end]
                        .parse()
                        .map_err(|_| DbError::misuse("a placeholder number is too large"))?;
                    i = digits_end;
                    n
                } else {
                    highest + 1
                };
                if n == 0 || n > 65535 {
                    return Err(DbError::misuse(format!(
                        "placeholder ?{n} is out of range (1..65535)"
                    )));
                }
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[start..]);
    Ok(out)
}

fn unterminated(what: &str) -> DbError {
    DbError::misuse(format!("the SQL text ends inside {what}"))
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn numbered_and_bare_placeholders() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = ?2").unwrap(),
            "SELECT a FROM t WHERE b = $1 AND c = $2"
        );
        assert_eq!(
            to_postgres("INSERT INTO t VALUES (?, ?, ?)").unwrap(),
            "INSERT INTO t VALUES ($1, $2, $3)"
        );
        // SQLite's rule: a bare ? takes the highest number so far plus one.
        assert_eq!(to_postgres("?2, ?, ?1").unwrap(), "$2, $3, $1");
        assert_eq!(to_postgres("x=?10").unwrap(), "x=$10");
        assert_eq!(to_postgres("?1||?2").unwrap(), "$1||$2");
    }

    #[test]
    fn literals_identifiers_and_comments_are_left_alone() {
        assert_eq!(
            to_postgres("SELECT '?1', 'it''s ?', \"col?\" FROM t WHERE x = ?1").unwrap(),
            "SELECT '?1', 'it''s ?', \"col?\" FROM t WHERE x = $1"
        );
        assert_eq!(
            to_postgres("SELECT 1 -- what? ?1\n, ?1").unwrap(),
            "SELECT 1 -- what? ?1\n, $1"
        );
        assert_eq!(
            to_postgres("SELECT /* a ? /* nested ? */ still ? */ ?").unwrap(),
            "SELECT /* a ? /* nested ? */ still ? */ $1"
        );
        assert_eq!(
            to_postgres("SELECT $$ a ? $$, $tag$ ?1 $tag$, ?1, $1").unwrap(),
            "SELECT $$ a ? $$, $tag$ ?1 $tag$, $1, $1"
        );
        assert_eq!(to_postgres("SELECT x'3f', ?").unwrap(), "SELECT x'3f', $1");
        // Non-ASCII text around placeholders survives.
        assert_eq!(
            to_postgres("SELECT 'é?' || ?1 -- ü").unwrap(),
            "SELECT 'é?' || $1 -- ü"
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        assert!(to_postgres("SELECT 'open").is_err());
        assert!(to_postgres("SELECT \"open").is_err());
        assert!(to_postgres("SELECT /* open").is_err());
        assert!(to_postgres("SELECT $q$ open").is_err());
        assert!(to_postgres("SELECT ?0").is_err());
        assert!(to_postgres("SELECT ?70000").is_err());
        assert!(to_postgres("SELECT ?99999999999999").is_err());
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        let sql = "CREATE TABLE t (a BIGINT); -- done";
        assert_eq!(to_postgres(sql).unwrap(), sql);
    }
}
