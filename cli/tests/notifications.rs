//! `workflow notifications ID` and the repeatable list filters of `workflow list`, on the real
//! binary over SQLite: the messages in send order with `--json`, the table, an unknown id, and
//! several `--prefix` / `--application` values.

mod common;

use common::*;
use dbos_storage::{OutgoingMessage, Payload, SendOptions};

#[tokio::test]
async fn notifications_lists_every_message_of_a_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let u = format!("sqlite:///{}", dir.path().join("n.sqlite").display());
    let store = store(&u).await;
    seed(store.as_ref()).await;
    let send = |topic: Option<&str>, text: &str, key: &str| {
        OutgoingMessage::new("wf-pending", topic, Payload::portable_json(text))
            .with_idempotency_key(key)
    };
    store
        .send_messages(
            vec![send(Some("paid"), "\"yes\"", "k1")],
            None,
            SendOptions::default(),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    store
        .send_messages(
            vec![send(None, "\"ping\"", "k2")],
            None,
            SendOptions::default(),
        )
        .await
        .unwrap();
    store.close().await.unwrap();

    let v = json(&run(
        dir.path(),
        &[
            "--url",
            &u,
            "workflow",
            "notifications",
            "wf-pending",
            "--json",
        ],
    ));
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["message_id"], "k1::wf-pending");
    assert_eq!(rows[0]["topic"], "paid");
    assert_eq!(rows[0]["message"], "\"yes\"");
    assert_eq!(rows[0]["serialization"], "portable_json");
    assert_eq!(rows[0]["consumed"], false);
    assert!(rows[1]["topic"].is_null(), "no topic is null: {v}");
    assert!(rows[1]["consumed_by_function_id"].is_null());

    let table = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "notifications", "wf-pending"],
    ));
    assert!(
        table.contains("TOPIC") && table.contains("CONSUMED"),
        "{table}"
    );
    assert!(table.contains("k2::wf-pending"), "{table}");
    let empty = ok(&run(
        dir.path(),
        &["--url", &u, "workflow", "notifications", "wf-done-1"],
    ));
    assert!(
        empty.contains("workflow wf-done-1 has no messages"),
        "{empty}"
    );
    fails(
        &run(
            dir.path(),
            &["--url", &u, "workflow", "notifications", "ghost"],
        ),
        1,
        &["no workflow \"ghost\""],
    );
}

#[tokio::test]
async fn list_filters_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let u = format!("sqlite:///{}", dir.path().join("l.sqlite").display());
    let store = store(&u).await;
    seed(store.as_ref()).await;
    store.close().await.unwrap();
    let ids = |args: &[&str]| {
        let mut all = vec![
            "--url",
            u.as_str(),
            "workflow",
            "list",
            "--sort",
            "asc",
            "--json",
        ];
        all.extend(args);
        let v = json(&run(dir.path(), &all));
        v.as_array()
            .unwrap()
            .iter()
            .map(|w| w["workflow_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(&["--prefix", "wf-done", "--prefix", "wf-queued-2"]),
        ["wf-done-1", "wf-done-2", "wf-queued-2"]
    );
    assert_eq!(
        ids(&[
            "--prefix",
            "wf-done",
            "--prefix",
            "wf-queued",
            "--limit",
            "2",
            "--offset",
            "1"
        ]),
        ["wf-done-2", "wf-queued-1"],
        "paging after both prefixes"
    );
    assert_eq!(
        ids(&[
            "--application",
            "a",
            "--application",
            "b",
            "--prefix",
            "wf-done"
        ]),
        ["wf-done-1", "wf-done-2"],
        "unclaimed rows are in every application's scope"
    );
}
