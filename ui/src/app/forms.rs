//! The text fields of the Publish / Subscribe view: the publish form and the subscribe
//! input, their key handling and their validation into commands.

use bytes::Bytes;
use midge_model::Command;

use super::text;
use crate::msg::Key;

/// A field of the publish form, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormField {
    #[default]
    Topic,
    Payload,
    Qos,
    Retain,
    ContentType,
    ResponseTopic,
    UserProperties,
    MessageExpiry,
    CorrelationData,
}

impl FormField {
    pub const ALL: [FormField; 9] = [
        FormField::Topic,
        FormField::Payload,
        FormField::Qos,
        FormField::Retain,
        FormField::ContentType,
        FormField::ResponseTopic,
        FormField::UserProperties,
        FormField::MessageExpiry,
        FormField::CorrelationData,
    ];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            FormField::Topic => "topic",
            FormField::Payload => "payload",
            FormField::Qos => "QoS",
            FormField::Retain => "retain",
            FormField::ContentType => "content type",
            FormField::ResponseTopic => "resp. topic",
            FormField::UserProperties => "user props",
            FormField::MessageExpiry => "expiry (s)",
            FormField::CorrelationData => "correlation",
        }
    }

    fn step(self, by: usize) -> Self {
        let i = Self::ALL.iter().position(|f| *f == self).unwrap_or(0);
        Self::ALL[(i + by) % Self::ALL.len()]
    }
}

/// What a key did to a text field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOutcome {
    Edited,
    Leave,
    Submit,
}

/// The publish form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishForm {
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
    pub content_type: String,
    pub response_topic: String,
    pub user_properties: String,
    /// Message Expiry Interval in seconds; empty = none.
    pub message_expiry: String,
    /// Correlation Data, as text; empty = none.
    pub correlation_data: String,
    pub field: FormField,
    /// Characters after the cursor in the focused text field (0: at the end).
    pub cursor_back: usize,
}

impl PublishForm {
    /// Handles a key while the form has the keyboard.
    pub fn key(&mut self, key: Key) -> FieldOutcome {
        match key {
            Key::Esc => return FieldOutcome::Leave,
            Key::Enter => return FieldOutcome::Submit,
            Key::Tab | Key::Down => {
                self.field = self.field.step(1);
                self.cursor_back = 0;
            }
            Key::BackTab | Key::Up => {
                self.field = self.field.step(FormField::ALL.len() - 1);
                self.cursor_back = 0;
            }
            _ => match self.field {
                FormField::Qos => match key {
                    Key::Char(c @ '0'..='2') => {
                        self.qos = u8::try_from(c.to_digit(10).unwrap_or(0)).unwrap_or(0)
                    }
                    Key::Char(' ') | Key::Right => self.qos = (self.qos + 1) % 3,
                    Key::Left => self.qos = (self.qos + 2) % 3,
                    _ => {}
                },
                FormField::Retain => match key {
                    Key::Char(' ') | Key::Left | Key::Right => self.retain = !self.retain,
                    Key::Char('y') => self.retain = true,
                    Key::Char('n') => self.retain = false,
                    _ => {}
                },
                FormField::Topic => {
                    text::edit(&mut self.topic, &mut self.cursor_back, key);
                }
                FormField::Payload => {
                    text::edit(&mut self.payload, &mut self.cursor_back, key);
                }
                FormField::ContentType => {
                    text::edit(&mut self.content_type, &mut self.cursor_back, key);
                }
                FormField::ResponseTopic => {
                    text::edit(&mut self.response_topic, &mut self.cursor_back, key);
                }
                FormField::UserProperties => {
                    text::edit(&mut self.user_properties, &mut self.cursor_back, key);
                }
                FormField::MessageExpiry => {
                    text::edit(&mut self.message_expiry, &mut self.cursor_back, key);
                }
                FormField::CorrelationData => {
                    text::edit(&mut self.correlation_data, &mut self.cursor_back, key);
                }
            },
        }
        FieldOutcome::Edited
    }

    /// The text of a field as shown.
    #[must_use]
    pub fn value(&self, field: FormField) -> String {
        match field {
            FormField::Topic => self.topic.clone(),
            FormField::Payload => self.payload.clone(),
            FormField::Qos => self.qos.to_string(),
            FormField::Retain => if self.retain { "yes" } else { "no" }.to_owned(),
            FormField::ContentType => self.content_type.clone(),
            FormField::ResponseTopic => self.response_topic.clone(),
            FormField::UserProperties => self.user_properties.clone(),
            FormField::MessageExpiry => self.message_expiry.clone(),
            FormField::CorrelationData => self.correlation_data.clone(),
        }
    }

    /// Validates the form into a publish command.
    ///
    /// # Errors
    /// A human-readable reason when the topic or a property is invalid.
    pub fn to_command(&self) -> Result<Command, String> {
        validate_topic_name(&self.topic)?;
        if !self.response_topic.is_empty() {
            // The Response Topic is a topic name, without wildcards [MQTT-3.3.2-14].
            validate_topic_name(&self.response_topic)
                .map_err(|e| format!("response topic: {e}"))?;
        }
        let user_properties = parse_user_properties(&self.user_properties)?;
        let expiry = self.message_expiry.trim();
        let message_expiry_secs = if expiry.is_empty() {
            None
        } else {
            // A four-byte integer [MQTT-3.3.2.3.3].
            Some(
                expiry
                    .parse::<u32>()
                    .map_err(|_| format!("message expiry {expiry:?} is not a number of seconds"))?,
            )
        };
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(Command::Publish {
            topic: self.topic.clone(),
            payload: Bytes::from(self.payload.clone().into_bytes()),
            qos: self.qos,
            retain: self.retain,
            content_type: opt(&self.content_type),
            response_topic: opt(&self.response_topic),
            user_properties,
            message_expiry_secs,
            correlation_data: opt(&self.correlation_data).map(|s| Bytes::from(s.into_bytes())),
        })
    }
}

/// Parses `k=v, k2=v2` into user properties; `\,` `\=` and `\\` put a literal comma,
/// equals sign or backslash into a key or value. Keys and values are trimmed.
///
/// # Errors
/// A pair without `=`.
pub fn parse_user_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    // (key, value so far, seen '=')
    let mut key = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = text.chars();
    let mut finish = |key: &mut String, value: &mut String, in_value: bool| {
        let (k, v) = (key.trim().to_owned(), value.trim().to_owned());
        key.clear();
        value.clear();
        if k.is_empty() && v.is_empty() && !in_value {
            return Ok(());
        }
        if !in_value {
            return Err(format!("user property {k:?} is not key=value"));
        }
        out.push((k, v));
        Ok(())
    };
    while let Some(c) = chars.next() {
        let target = if in_value { &mut value } else { &mut key };
        match c {
            '\\' => target.push(chars.next().unwrap_or('\\')),
            ',' => {
                finish(&mut key, &mut value, in_value)?;
                in_value = false;
            }
            '=' if !in_value => in_value = true,
            _ => target.push(c),
        }
    }
    finish(&mut key, &mut value, in_value)?;
    Ok(out)
}

/// The subscribe input: a filter and the QoS asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeInput {
    pub filter: String,
    pub qos: u8,
    /// Characters after the cursor (0: at the end).
    pub cursor_back: usize,
}

impl SubscribeInput {
    /// Handles a key while the input has the keyboard; Tab cycles the QoS.
    pub fn key(&mut self, key: Key) -> FieldOutcome {
        match key {
            Key::Esc => return FieldOutcome::Leave,
            Key::Enter => return FieldOutcome::Submit,
            Key::Tab => self.qos = (self.qos + 1) % 3,
            Key::BackTab => self.qos = (self.qos + 2) % 3,
            _ => {
                text::edit(&mut self.filter, &mut self.cursor_back, key);
            }
        }
        FieldOutcome::Edited
    }

    /// Validates the input into a subscribe command.
    ///
    /// # Errors
    /// A human-readable reason when the filter is invalid.
    pub fn to_command(&self) -> Result<Command, String> {
        validate_filter(&self.filter)?;
        Ok(Command::Subscribe {
            filter: self.filter.clone(),
            qos: self.qos,
        })
    }
}

/// Checks a topic name for publishing.
///
/// # Errors
/// Why the name is not valid.
pub fn validate_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        // [MQTT-4.7.3-1] topic names are at least one character.
        return Err("the topic is empty".to_owned());
    }
    if topic.contains(['+', '#']) {
        // [MQTT-3.3.2-2] no wildcards in a PUBLISH topic name.
        return Err("a topic name cannot contain + or #".to_owned());
    }
    check_common(topic)
}

/// Checks a topic filter for subscribing.
///
/// # Errors
/// Why the filter is not valid.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        // [MQTT-4.7.3-1]
        return Err("the filter is empty".to_owned());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            // [MQTT-4.7.1-2] '#' alone, and last.
            return Err("# must be the whole last level".to_owned());
        }
        if level.contains('+') && *level != "+" {
            // [MQTT-4.7.1-3] '+' occupies a whole level.
            return Err("+ must be a whole level".to_owned());
        }
    }
    check_common(filter)
}

fn check_common(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        // [MQTT-4.7.3-2] no null character.
        return Err("the topic contains a null character".to_owned());
    }
    if s.len() > 65_535 {
        // [MQTT-4.7.3-3] at most 65,535 bytes.
        return Err("the topic is longer than 65,535 bytes".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_user_properties;

    #[test]
    fn user_properties_with_escapes() {
        let p = parse_user_properties(r"a=1, note=x\, y\=z , path=C:\\tmp").unwrap_or_default();
        let want = [("a", "1"), ("note", "x, y=z"), ("path", r"C:\tmp")];
        let got: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert_eq!(parse_user_properties(" , ").map(|v| v.len()), Ok(0));
        assert!(parse_user_properties("a=1, b").is_err());
        assert_eq!(
            parse_user_properties("k=").map(|v| v.len()),
            Ok(1),
            "an empty value is allowed"
        );
    }
}
