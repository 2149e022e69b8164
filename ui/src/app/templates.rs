//! Publish templates and history: `s` in Pub/Sub saves the form under a name, every
//! message sent goes into a bounded history, and `t` picks either back into the form.
//! Kept in `publish.json` in the data dir across restarts; `update` only marks them
//! dirty, the terminal loop reads and writes the file.

use std::collections::VecDeque;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::forms::PublishForm;

/// Messages kept in the history, newest first.
pub const HISTORY_LEN: usize = 50;
/// The file in the data dir.
pub const FILE_NAME: &str = "publish.json";

/// One saved form (a template, or a history entry without a name).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Template {
    pub name: String,
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
    pub content_type: String,
    pub response_topic: String,
    pub user_properties: String,
    pub message_expiry: String,
    pub correlation_data: String,
}

impl Template {
    #[must_use]
    pub fn from_form(name: &str, f: &PublishForm) -> Self {
        Self {
            name: name.to_owned(),
            topic: f.topic.clone(),
            payload: f.payload.clone(),
            qos: f.qos,
            retain: f.retain,
            content_type: f.content_type.clone(),
            response_topic: f.response_topic.clone(),
            user_properties: f.user_properties.clone(),
            message_expiry: f.message_expiry.clone(),
            correlation_data: f.correlation_data.clone(),
        }
    }

    /// Fills the form with this template (the cursor at the topic's end).
    pub fn load_into(&self, f: &mut PublishForm) {
        *f = PublishForm {
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            qos: self.qos.min(2),
            retain: self.retain,
            content_type: self.content_type.clone(),
            response_topic: self.response_topic.clone(),
            user_properties: self.user_properties.clone(),
            message_expiry: self.message_expiry.clone(),
            correlation_data: self.correlation_data.clone(),
            ..PublishForm::default()
        };
    }
}

/// The saved templates (by name) and the history of sent messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Templates {
    pub saved: Vec<Template>,
    pub history: VecDeque<Template>,
    /// Changed since the file was last written.
    #[serde(skip)]
    pub dirty: bool,
}

/// Reading or writing `publish.json` failed.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl Templates {
    /// Saves `t` under its name, replacing one of the same name.
    pub fn save(&mut self, t: Template) {
        match self.saved.iter_mut().find(|s| s.name == t.name) {
            Some(s) => *s = t,
            None => {
                self.saved.push(t);
                self.saved.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
        self.dirty = true;
    }

    pub fn delete(&mut self, name: &str) {
        self.saved.retain(|s| s.name != name);
        self.dirty = true;
    }

    /// A message sent: newest first, a repeat of the newest not kept twice.
    pub fn sent(&mut self, f: &PublishForm) {
        let t = Template::from_form("", f);
        if self.history.front() != Some(&t) {
            self.history.push_front(t);
            self.history.truncate(HISTORY_LEN);
            self.dirty = true;
        }
    }

    /// Entries of the picker: templates first, then the history.
    #[must_use]
    pub fn entries(&self) -> Vec<&Template> {
        self.saved.iter().chain(self.history.iter()).collect()
    }

    /// Reads `dir/publish.json`; none yet is empty.
    ///
    /// # Errors
    /// The file exists but cannot be read or parsed.
    pub fn load(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| StoreError(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(StoreError(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes `dir/publish.json` (whole, through a temporary file and a rename).
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub fn store(&self, dir: &Path) -> Result<(), StoreError> {
        let err = |e: &dyn std::fmt::Display| StoreError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(&e))?;
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        std::fs::write(&tmp, json).map_err(|e| err(&e))?;
        std::fs::rename(&tmp, dir.join(FILE_NAME)).map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_history_and_round_trip() {
        let mut t = Templates::default();
        let mut f = PublishForm {
            topic: "a/b".into(),
            payload: "1".into(),
            message_expiry: "60".into(),
            ..PublishForm::default()
        };
        t.save(Template::from_form("zeta", &f));
        t.save(Template::from_form("alpha", &f));
        f.payload = "2".into();
        t.save(Template::from_form("zeta", &f));
        assert_eq!(
            t.saved.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["alpha", "zeta"]
        );
        assert_eq!(t.saved[1].payload, "2", "same name replaces");
        t.sent(&f);
        t.sent(&f);
        assert_eq!(t.history.len(), 1, "a repeat is kept once");
        assert_eq!(t.entries().len(), 3);

        let dir = std::env::temp_dir().join(format!("midge-tpl-{}", std::process::id()));
        t.store(&dir).expect("store");
        let back = Templates::load(&dir).expect("load");
        assert_eq!(back.saved, t.saved);
        assert_eq!(back.history, t.history);
        let mut g = PublishForm::default();
        back.saved[1].load_into(&mut g);
        assert_eq!((g.topic.as_str(), g.message_expiry.as_str()), ("a/b", "60"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Templates::load(&dir).expect("none"), Templates::default());
    }
}
