//! The Watch: what the dashboard shows, sent when it changes and only then; and the
//! paged connections table it asks for, in global row indices.

use std::sync::Arc;

use midge_model::fixtures::{self, paged_snapshot, PAGED_TOTAL};
use midge_model::{Command, SortKey, TableQuery, Watch};
use midge_ui::app::{Confirm, Overlay};
use midge_ui::{update, App, Key, Msg, View};

use crate::support::{busy_app, chars, key, render, sync};

/// Connections rows on screen at 80×24: 24 − tabs, status, footer − borders − header.
const ROWS_80X24: u32 = 18;

fn table(w: &Watch) -> &TableQuery {
    w.table.as_ref().expect("a table query")
}

fn selected_id(app: &App) -> Option<String> {
    app.connection_table()
        .get(app.connections.list.selected)
        .map(|c| c.client_id.clone())
}

/// The subscriber count the Topics detail shows.
fn subscribers(app: &App) -> String {
    let screen = render(app, 160, 48);
    let (before, _) = screen
        .split_once(" subscribers")
        .unwrap_or_else(|| panic!("no subscriber count on screen:\n{screen}"));
    before.rsplit(' ').next().expect("a word").to_owned()
}

/// Answers the Watch as a paging source would, with the big broker's page.
fn answer(app: &mut App, w: &Watch) {
    let t = table(w);
    update(
        app,
        Msg::Snapshot(Arc::new(paged_snapshot(t.offset, t.limit))),
    );
}

#[test]
fn watch_follows_view_sort_filter_and_is_not_repeated() {
    let mut app = busy_app(80, 24);
    assert_eq!(sync(&mut app), None, "the Overview is the default Watch");
    key(&mut app, Key::Char('2'));
    let w = sync(&mut app).expect("the Connections view asks for its table");
    assert_eq!(
        w,
        Watch {
            table: Some(TableQuery {
                sort: SortKey::ClientId,
                descending: false,
                filter: String::new(),
                offset: 0,
                limit: 3 * ROWS_80X24,
            }),
            clients: Vec::new(),
            topic: None,
            topics: Vec::new(),
        }
    );
    assert_eq!(sync(&mut app), None, "unchanged: not sent again");
    key(&mut app, Key::Char('j'));
    assert_eq!(
        sync(&mut app),
        None,
        "moving on screen asks for nothing new"
    );

    key(&mut app, Key::Char('s'));
    let w = sync(&mut app).expect("sorting changes the query");
    assert_eq!(
        (table(&w).sort, table(&w).descending),
        (SortKey::Address, false)
    );
    key(&mut app, Key::Char('r'));
    assert!(table(&sync(&mut app).expect("reversed")).descending);
    while app.connections.sort != SortKey::Queued {
        key(&mut app, Key::Char('s'));
    }
    let w = sync(&mut app).expect("by queued");
    assert_eq!(
        (table(&w).sort, table(&w).descending),
        (SortKey::Queued, true)
    );

    key(&mut app, Key::Char('/'));
    assert_eq!(
        sync(&mut app),
        None,
        "opening the filter changes nothing yet"
    );
    chars(&mut app, "h");
    assert_eq!(table(&sync(&mut app).expect("typed")).filter, "h");
    chars(&mut app, "i");
    assert_eq!(table(&sync(&mut app).expect("typed")).filter, "hi");
    key(&mut app, Key::Enter);
    assert_eq!(sync(&mut app), None);
    key(&mut app, Key::Esc);
    assert_eq!(table(&sync(&mut app).expect("cleared")).filter, "");

    key(&mut app, Key::Enter);
    let id = app.connections.detail.clone().expect("detail open");
    assert_eq!(sync(&mut app).expect("detail").clients, vec![id]);
    key(&mut app, Key::Esc);
    assert!(sync(&mut app).expect("closed").clients.is_empty());

    key(&mut app, Key::Char('1'));
    assert_eq!(
        sync(&mut app),
        Some(Watch::default()),
        "no table on the Overview"
    );
    assert_eq!(sync(&mut app), None);
}

#[test]
fn scrolling_past_the_page_asks_for_a_new_offset() {
    let mut app = busy_app(80, 24);
    update(&mut app, Msg::Snapshot(Arc::new(paged_snapshot(0, 54))));
    key(&mut app, Key::Char('2'));
    let first = sync(&mut app).expect("table");
    assert_eq!(table(&first).offset, 0);
    let t = app.connection_table();
    assert!(t.is_paged());
    assert_eq!(
        t.total(),
        PAGED_TOTAL as usize,
        "the count is the source's total"
    );
    drop(t);
    assert_eq!(selected_id(&app).as_deref(), Some("fleet-000000"));
    for _ in 0..3 {
        key(&mut app, Key::Char('j'));
    }
    assert_eq!(selected_id(&app).as_deref(), Some("fleet-000003"));
    assert_eq!(sync(&mut app), None, "still inside the page");

    // A page down at a time: a new offset once the screen leaves the first window.
    let mut offsets = vec![0];
    for _ in 0..4 {
        key(&mut app, Key::PageDown);
        if let Some(w) = sync(&mut app) {
            offsets.push(table(&w).offset);
            answer(&mut app, &w);
        }
        let sel = app.connections.list.selected;
        assert_eq!(selected_id(&app), Some(format!("fleet-{sel:06}")));
    }
    assert!(
        offsets.len() > 1 && offsets.windows(2).all(|p| p[0] < p[1]),
        "{offsets:?}"
    );

    // To the last row: absent until the source answers for its offset.
    key(&mut app, Key::Char('G'));
    assert_eq!(app.connections.list.selected, PAGED_TOTAL as usize - 1);
    assert_eq!(selected_id(&app), None, "not sent yet");
    let w = sync(&mut app).expect("the end of the table");
    let t = table(&w);
    let first_on_screen = PAGED_TOTAL - ROWS_80X24;
    assert!(
        t.offset <= first_on_screen && t.offset + t.limit >= PAGED_TOTAL,
        "{t:?}"
    );
    answer(&mut app, &w);
    assert_eq!(selected_id(&app).as_deref(), Some("fleet-099999"));
    let screen = render(&app, 80, 24);
    assert!(screen.contains("fleet-099999"), "{screen}");
    assert!(screen.contains("100,000 shown"), "{screen}");

    // Its detail is watched by id, and works from that row.
    key(&mut app, Key::Enter);
    assert_eq!(app.connections.detail.as_deref(), Some("fleet-099999"));
    let w = sync(&mut app).expect("detail");
    assert_eq!(w.clients, vec!["fleet-099999".to_owned()]);
    assert!(render(&app, 80, 24).contains("fleet/99999/cmd"));
}

#[test]
fn views_work_from_the_rows_present() {
    let mut app = busy_app(80, 24);
    update(&mut app, Msg::Snapshot(Arc::new(paged_snapshot(0, 54))));
    // Quitting counts online clients from the counters, not the page.
    key(&mut app, Key::Char('q'));
    assert_eq!(
        app.overlay,
        Some(Overlay::Confirm(Confirm::Quit { online: 99_000 }))
    );
    key(&mut app, Key::Esc);
    // The slow consumers rank the rows sent besides the page.
    key(&mut app, Key::Char('6'));
    assert_eq!(sync(&mut app), None, "no table for the ranking");
    let screen = render(&app, 80, 24);
    assert!(screen.contains("historian"), "{screen}");
    key(&mut app, Key::Enter);
    assert_eq!(app.view, View::Connections);
    assert_eq!(app.connections.detail.as_deref(), Some("historian"));
    assert_eq!(
        sync(&mut app).expect("detail").clients,
        vec!["historian".to_owned()]
    );
    // The offline queues show the offline rows present.
    key(&mut app, Key::Char('4'));
    let screen = render(&app, 160, 48);
    assert!(screen.contains("fleet-000000 3/1000"), "{screen}");
}

#[test]
fn topic_subscribers_from_the_source_or_unknown() {
    let mut app = busy_app(160, 48);
    key(&mut app, Key::Char('3'));
    key(&mut app, Key::Char('/'));
    chars(&mut app, "lamp");
    key(&mut app, Key::Enter);
    let w = sync(&mut app).expect("a topic is selected");
    assert_eq!(w.table, None);
    let topic = w.topic.expect("the selected topic");
    assert_eq!(topic, "home/livingroom/lamp");
    // Counted here from every session (home/# and #).
    assert_eq!(subscribers(&app), "2");
    // Paged, no answer: unknown, not a count of the page.
    let mut s = paged_snapshot(0, 10);
    update(&mut app, Msg::Snapshot(Arc::new(s.clone())));
    assert_eq!(subscribers(&app), "?");
    // The source's count for this topic.
    s.subscribers = vec![(topic.clone(), 12_345)];
    update(&mut app, Msg::Snapshot(Arc::new(s.clone())));
    assert_eq!(subscribers(&app), "12,345");
    // A count for another topic is not this one's.
    s.subscribers = vec![("home/other".to_owned(), 7)];
    update(&mut app, Msg::Snapshot(Arc::new(s)));
    assert_eq!(subscribers(&app), "?");
    // The whole tree, nothing selected: its first row is the $SYS branch, no topic.
    key(&mut app, Key::Esc);
    assert_eq!(sync(&mut app).map(|w| w.topic), Some(None));
    assert_eq!(sync(&mut app), None);
}

#[test]
fn trace_lists_clients_by_page_and_watches_the_traced_one() {
    let mut app = busy_app(80, 24);
    update(&mut app, Msg::Snapshot(Arc::new(paged_snapshot(0, 54))));
    key(&mut app, Key::Char('7'));
    let w = sync(&mut app).expect("the client list");
    assert_eq!(
        (table(&w).sort, table(&w).descending),
        (SortKey::ClientId, false)
    );
    key(&mut app, Key::Char('j'));
    let cmd = key(&mut app, Key::Enter);
    assert_eq!(
        cmd,
        Some(Command::Trace {
            client_id: Some("fleet-000001".to_owned())
        })
    );
    assert_eq!(
        sync(&mut app).expect("traced").clients,
        vec!["fleet-000001".to_owned()]
    );
    key(&mut app, Key::Char('/'));
    chars(&mut app, "fleet-0001");
    assert_eq!(
        table(&sync(&mut app).expect("filtered")).filter,
        "fleet-0001"
    );
}

/// Input that drains the source's command queue at chosen points, as a source would.
struct Draining {
    steps: std::collections::VecDeque<Option<Msg>>,
    source: midge_model::SourceLink,
    got: Vec<Command>,
}

impl midge_ui::InputSource for Draining {
    fn next(&mut self, _timeout: std::time::Duration) -> std::io::Result<Option<Msg>> {
        match self.steps.pop_front() {
            Some(Some(msg)) => Ok(Some(msg)),
            // A pause: the source reads its queue; the loop turns once without input.
            Some(None) => {
                while let Ok(c) = self.source.commands.try_recv() {
                    self.got.push(c);
                }
                Ok(None)
            }
            None => Ok(Some(Msg::Shutdown)),
        }
    }
}

#[test]
fn a_full_queue_sends_the_latest_watch_next_turn() {
    let (source, link) = midge_model::link(fixtures::snapshot(), 16, 1);
    let mut input = Draining {
        steps: [
            Some(Msg::char('2')), // sent: fills the queue of one
            Some(Msg::char('s')), // full: kept for later
            Some(Msg::char('r')), // full: the latest wins
            None,                 // the source reads; next turn sends the latest
            None,
        ]
        .into(),
        source,
        got: Vec::new(),
    };
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).expect("backend");
    midge_ui::run_with(
        &mut terminal,
        link,
        &crate::support::options(),
        &mut input,
        &|| fixtures::NOW_MS,
    )
    .expect("run");
    let sorts: Vec<(SortKey, bool)> = input
        .got
        .iter()
        .map(|c| match c {
            Command::Watch(w) => (table(w).sort, table(w).descending),
            other => panic!("only watches were sent: {other:?}"),
        })
        .collect();
    assert_eq!(
        sorts,
        [(SortKey::ClientId, false), (SortKey::Address, true)],
        "the first, then the latest; the one in between never went"
    );
}

#[test]
fn a_page_for_another_sort_or_filter_is_not_acted_on() {
    let mut app = busy_app(80, 24);
    key(&mut app, Key::Char('2'));
    update(&mut app, Msg::Snapshot(Arc::new(paged_snapshot(0, 54))));
    let first = selected_id(&app).expect("a row for no filter");
    key(&mut app, Key::Char('/'));
    chars(&mut app, "historian");
    key(&mut app, Key::Enter);
    // The page on hand answers no filter: its first row is someone else.
    assert_eq!(selected_id(&app), None);
    key(&mut app, Key::Enter);
    assert_eq!(
        app.connections.detail, None,
        "nothing opened from a stale page"
    );
    // The answer for the filter arrives; Enter opens its first row.
    let mut s = paged_snapshot(0, 54);
    if let Some(p) = s.page.as_mut() {
        p.answers.filter = "historian".to_owned();
    }
    update(&mut app, Msg::Snapshot(Arc::new(s)));
    assert_eq!(selected_id(&app).as_deref(), Some(first.as_str()));
    key(&mut app, Key::Enter);
    assert_eq!(app.connections.detail, Some(first));
}
