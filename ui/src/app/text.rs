//! One-line text editing shared by the filter, the publish form and the subscribe
//! input: a cursor kept as "characters after it", so 0 means "at the end" and a field
//! filled or cleared from outside keeps a valid cursor without being told.

use crate::msg::Key;

/// The cursor's character index in `text` when `back` characters follow it.
#[must_use]
pub fn cursor_index(text: &str, back: usize) -> usize {
    text.chars().count().saturating_sub(back)
}

fn byte_at(text: &str, char_index: usize) -> usize {
    text.char_indices()
        .nth(char_index)
        .map_or(text.len(), |(b, _)| b)
}

/// Applies an editing key; returns false when the key is not an editing key.
pub fn edit(text: &mut String, back: &mut usize, key: Key) -> bool {
    let len = text.chars().count();
    *back = (*back).min(len);
    let pos = len - *back;
    match key {
        Key::Char(c) => text.insert(byte_at(text, pos), c),
        Key::Backspace if pos > 0 => {
            text.remove(byte_at(text, pos - 1));
        }
        Key::Delete if *back > 0 => {
            text.remove(byte_at(text, pos));
            *back -= 1;
        }
        Key::Backspace | Key::Delete => {}
        Key::Left => *back = (*back + 1).min(len),
        Key::Right => *back = back.saturating_sub(1),
        Key::Home | Key::Ctrl('a') => *back = len,
        Key::End | Key::Ctrl('e') => *back = 0,
        Key::Ctrl('u') => {
            text.clear();
            *back = 0;
        }
        _ => return false,
    }
    true
}

/// The text around the cursor as (before, under the cursor, after), `under` being
/// `None` at the end.
#[must_use]
pub fn split(text: &str, back: usize) -> (&str, Option<char>, &str) {
    let pos = byte_at(text, cursor_index(text, back));
    let (before, rest) = text.split_at(pos);
    let mut chars = rest.chars();
    let under = chars.next();
    (before, under, chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[Key]) -> (String, usize) {
        let (mut t, mut b) = (String::new(), 0);
        for k in keys {
            edit(&mut t, &mut b, *k);
        }
        (t, b)
    }

    #[test]
    fn inserts_and_deletes_at_the_cursor() {
        use Key::{Backspace, Char, Delete, End, Home, Left, Right};
        let (t, b) = typed(&[Char('a'), Char('c'), Left, Char('b')]);
        assert_eq!((t.as_str(), b), ("abc", 1));
        let (t, b) = typed(&[
            Char('x'),
            Char('y'),
            Home,
            Delete,
            Char('é'),
            End,
            Backspace,
        ]);
        assert_eq!((t.as_str(), b), ("é", 0));
        let (t, b) = typed(&[Char('a'), Left, Left, Backspace, Right, Right, Char('b')]);
        assert_eq!((t.as_str(), b), ("ab", 0));
    }

    #[test]
    fn split_around_the_cursor() {
        assert_eq!(split("héllo", 0), ("héllo", None, ""));
        assert_eq!(split("héllo", 4), ("h", Some('é'), "llo"));
        assert_eq!(split("ab", 9), ("", Some('a'), "b"));
    }
}
