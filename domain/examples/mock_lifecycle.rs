//! Walks a mock through its life with the domain alone — no database, no server — and
//! prints each state: sign-up, handle, create, publish, an invalid edit (the last good
//! revision stays live), a fix, and unpublish.
//!
//! Run it with `cargo run -p moclojer-domain --example mock_lifecycle`.

#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use moclojer_domain::{
    Diagnostic, Email, Event, EventId, EventKind, Handle, Mock, MockId, MockName, Publication,
    SpecSource, Timestamp, User, UserId, Workspace, WorkspaceId, Zone,
};

fn show(step: &str, mock: &Mock, publication: &Publication) {
    let live = publication
        .live_revision
        .map_or_else(|| "none".to_owned(), |r| r.to_string());
    println!(
        "{step:<28} host={} revision={} enabled={} server={:?} live={live}",
        mock.host,
        mock.revision,
        mock.enabled,
        publication.server.status(),
    );
    if let moclojer_domain::ServerState::Invalid { diagnostics } = &publication.server {
        for d in diagnostics {
            println!("{:<28}   {d}", "");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Ids and times come from ports in the real system; here we make them by hand.
    let mut clock = 1_795_982_309_000_i64;
    let mut tick = || {
        clock += 1_000;
        Timestamp::from_unix_millis(clock)
    };
    let id = uuid::Uuid::from_u128;

    let mut alice = User::new(
        UserId::from_uuid(id(1)),
        Email::parse("Alice@Example.com")?,
        tick(),
    );
    println!(
        "signed up                    {} (handle: {:?})",
        alice.email, alice.handle
    );
    alice.choose_handle(Handle::parse("alice")?)?;
    let personal = Workspace::personal(WorkspaceId::from_uuid(id(2)), &alice, tick())?;
    println!(
        "chose handle                 workspace {} owned by {}",
        personal.handle, alice.email
    );

    let zone = Zone::parse("moclojer.com")?;
    let spec = SpecSource::new(
        "- endpoint:\n    method: GET\n    path: /hello/:name\n    response:\n      status: 200\n      body: '{\"hello\": \"{{path-params.name}}\"}'\n",
    )?;
    let mut mock = Mock::create(
        MockId::from_uuid(id(3)),
        &personal,
        MockName::parse("hello")?,
        &zone,
        spec,
        tick(),
    );
    let mut publication = Publication::new(mock.id, mock.created_at);
    show("created", &mock, &publication);

    mock.set_enabled(true, tick());
    publication.request_publish(mock.revision, tick())?;
    show("publish requested", &mock, &publication);
    publication.mark_published(mock.revision, tick())?;
    show("published", &mock, &publication);

    // An edit that the validator refuses: the publication says why, and revision 1 stays live.
    mock.edit(
        SpecSource::new("- endpoint:\n    path: hello\n")?,
        Some(mock.revision),
        tick(),
    )?;
    publication.request_publish(mock.revision, tick())?;
    let diagnostics =
        vec![Diagnostic::error(2, 11, "a path starts with \"/\"").in_item(0, "endpoint.path")];
    publication.mark_invalid(mock.revision, diagnostics, tick())?;
    show("invalid edit", &mock, &publication);

    mock.edit(
        SpecSource::new("- endpoint:\n    path: /hello\n")?,
        Some(mock.revision),
        tick(),
    )?;
    publication.request_publish(mock.revision, tick())?;
    publication.mark_published(mock.revision, tick())?;
    show("fixed and published", &mock, &publication);

    // A refused move: a stale outcome for an old revision.
    let stale = publication.mark_published(moclojer_domain::Revision::FIRST, tick());
    println!(
        "{:<28} {}",
        "stale outcome refused",
        stale.err().map(|e| e.to_string()).unwrap_or_default()
    );

    mock.set_enabled(false, tick());
    publication.unpublish(tick());
    show("unpublished", &mock, &publication);

    let event = Event::new(
        EventId::from_uuid(id(4)),
        tick(),
        EventKind::PublicationChanged { mock_id: mock.id },
    );
    println!("event                        {}", event.to_json());
    Ok(())
}
