//! The Publish / Subscribe view's state: the publish form, the subscribe input, the
//! dashboard's own subscriptions, and the bounded, pausable list of messages they
//! delivered.

use std::collections::BTreeMap;

use midge_model::{Command, Message};

use super::forms::{PublishForm, SubscribeInput};
use super::lists::ListState;
use crate::derive::ring::Ring;

/// Which list of the Publish / Subscribe view moves with j/k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSubFocus {
    Subscriptions,
    Messages,
}

/// The Publish / Subscribe view's state.
#[derive(Debug)]
pub struct PubSubState {
    pub publish: PublishForm,
    pub subscribe: SubscribeInput,
    /// The dashboard's own subscriptions (filter → QoS), as asked.
    pub subscriptions: BTreeMap<String, u8>,
    pub focus: PubSubFocus,
    pub sub_selected: usize,
    /// The message list's selection and filter.
    pub messages_list: ListState,
    pub messages: Ring<Message>,
    pub paused: bool,
    pub skipped_while_paused: u64,
    /// `R`: the delivered messages going to a JSON Lines file.
    pub recording: Option<super::record::Recording>,
    /// Why the last recording stopped by itself (full), shown until the next one.
    pub recording_full: bool,
    /// Stopped recordings whose last lines the terminal loop has yet to write.
    pub finished: Vec<super::record::Recording>,
}

impl PubSubState {
    #[must_use]
    pub fn new(messages: Ring<Message>) -> Self {
        Self {
            publish: PublishForm::default(),
            subscribe: SubscribeInput::default(),
            subscriptions: BTreeMap::new(),
            focus: PubSubFocus::Messages,
            sub_selected: 0,
            messages_list: ListState::default(),
            messages,
            paused: false,
            skipped_while_paused: 0,
            recording: None,
            recording_full: false,
            finished: Vec::new(),
        }
    }

    /// Delivered messages shown, newest first, filtered by topic or payload text.
    #[must_use]
    pub fn rows(&self) -> Vec<&Message> {
        let f = self.messages_list.filter.to_lowercase();
        self.messages
            .iter()
            .rev()
            .filter(|m| {
                f.is_empty()
                    || m.topic.to_lowercase().contains(&f)
                    || String::from_utf8_lossy(&m.payload)
                        .to_lowercase()
                        .contains(&f)
            })
            .collect()
    }

    /// A message delivered for one of our subscriptions (counted, not kept, while paused).
    pub fn delivered(&mut self, m: Message) {
        // Recording keeps everything delivered, paused or not.
        if let Some(r) = &mut self.recording {
            if r.record(&m) == super::record::Recorded::Full {
                self.recording_full = true;
                self.finished.extend(self.recording.take());
            }
        }
        if self.paused {
            self.skipped_while_paused += 1;
        } else {
            self.messages.push(m);
        }
    }

    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if !self.paused {
            self.skipped_while_paused = 0;
        }
    }

    pub fn clear_messages(&mut self) {
        self.messages.clear();
        self.messages_list.selected = 0;
    }

    /// Removes the selected subscription; the command to send, if one was selected.
    pub fn unsubscribe(&mut self) -> Option<Command> {
        let filter = self.subscriptions.keys().nth(self.sub_selected).cloned()?;
        self.subscriptions.remove(&filter);
        self.sub_selected = self
            .sub_selected
            .min(self.subscriptions.len().saturating_sub(1));
        Some(Command::Unsubscribe { filter })
    }
}
