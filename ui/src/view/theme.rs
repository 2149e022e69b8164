//! Colours and emphasis. With `NO_COLOR` every style keeps only modifiers (bold,
//! reversed, underline), so the dashboard stays readable in monochrome.

use ratatui::style::{Color, Modifier, Style};

/// The styles every pane draws with.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub text: Style,
    pub dim: Style,
    pub title: Style,
    pub header: Style,
    pub tab: Style,
    pub tab_active: Style,
    pub selected: Style,
    pub border: Style,
    pub border_focus: Style,
    pub good: Style,
    pub warn: Style,
    pub bad: Style,
    pub accent: Style,
    pub key: Style,
    pub chart_in: Style,
    pub chart_out: Style,
}

impl Theme {
    #[must_use]
    pub fn new(no_color: bool) -> Self {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        if no_color {
            let plain = Style::new();
            return Self {
                text: plain,
                dim: plain,
                title: bold,
                header: bold.add_modifier(Modifier::UNDERLINED),
                tab: plain,
                tab_active: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                border: plain,
                border_focus: bold,
                good: plain,
                warn: bold,
                bad: bold.add_modifier(Modifier::UNDERLINED),
                accent: bold,
                key: bold,
                chart_in: plain,
                chart_out: plain,
            };
        }
        Self {
            text: Style::new().fg(Color::Gray),
            dim: Style::new().fg(Color::DarkGray),
            title: bold.fg(Color::Cyan),
            header: bold.fg(Color::Yellow),
            tab: Style::new().fg(Color::Gray),
            tab_active: bold.fg(Color::Black).bg(Color::Cyan),
            selected: Style::new().fg(Color::Black).bg(Color::LightBlue),
            border: Style::new().fg(Color::DarkGray),
            border_focus: Style::new().fg(Color::Cyan),
            good: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            bad: bold.fg(Color::Red),
            accent: Style::new().fg(Color::Magenta),
            key: bold.fg(Color::Cyan),
            chart_in: Style::new().fg(Color::Green),
            chart_out: Style::new().fg(Color::Blue),
        }
    }
}
