//! The records port's contract.

use std::sync::Arc;

use futures::future::join_all;
use recap_domain::records::{Condition, Index, Item, Key, Query, SortKey, Update, Write};
use recap_domain::{Conflict, Error};
use serde_json::{Value, json};

use crate::Backend;

fn item(v: Value) -> Item {
    v.as_object().cloned().expect("an object")
}

fn tenant() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn assert_condition_failed<T: std::fmt::Debug>(r: Result<T, Error>, write: usize) {
    match r {
        Err(Error::Conflict(Conflict::ConditionFailed { write: w })) => assert_eq!(w, write),
        other => panic!("expected the condition of write {write} to fail, got {other:?}"),
    }
}

fn assert_validation<T: std::fmt::Debug>(r: Result<T, Error>, field: &str) {
    match r {
        Err(Error::Validation { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

pub async fn put_get_replace_delete(b: &dyn Backend) {
    let r = b.records().await;
    let k = Key::new(format!("{}#X", tenant()), "A");
    let v = json!({"pk": k.pk, "sk": k.sk, "s": "héllo", "n": -42, "big": 9_007_199_254_740_993_i64,
        "f": 1.5, "b": true, "z": null, "l": [1, "two", {"three": 3}], "m": {"x": {"y": "z"}}, "e": ""});
    r.put(item(v.clone()), vec![]).await.unwrap();
    assert_eq!(r.get(&k).await.unwrap(), Some(item(v.clone())));
    let v2 = json!({"pk": k.pk, "sk": k.sk, "only": 1});
    r.put(item(v2.clone()), vec![]).await.unwrap();
    assert_eq!(
        r.get(&k).await.unwrap(),
        Some(item(v2.clone())),
        "put replaces the whole item"
    );
    assert_eq!(r.delete(&k, vec![]).await.unwrap(), Some(item(v2)));
    assert_eq!(r.get(&k).await.unwrap(), None);
    assert_eq!(
        r.delete(&k, vec![]).await.unwrap(),
        None,
        "deleting nothing is not an error"
    );
}

pub async fn conditions_pass_and_fail(b: &dyn Backend) {
    let r = b.records().await;
    let k = Key::new(format!("{}#C", tenant()), "1");
    let base = item(json!({"pk": k.pk, "sk": k.sk, "state": "open", "n": 10}));

    // NotExists: the first put passes, the second fails and changes nothing.
    r.put(base.clone(), vec![Condition::NotExists])
        .await
        .unwrap();
    let mut other = base.clone();
    other.insert("state".into(), json!("other"));
    assert_condition_failed(r.put(other.clone(), vec![Condition::NotExists]).await, 0);
    assert_eq!(r.get(&k).await.unwrap(), Some(base.clone()));

    // Exists on a missing item: no item is created.
    let missing = Key::new(k.pk.clone(), "missing");
    assert_condition_failed(
        r.update(&missing, Update::new().set("a", 1), vec![Condition::Exists])
            .await,
        0,
    );
    assert_eq!(r.get(&missing).await.unwrap(), None);
    r.update(&k, Update::new().set("a", 1), vec![Condition::Exists])
        .await
        .unwrap();

    // Equals, with numbers compared by value.
    assert_condition_failed(
        r.update(
            &k,
            Update::new().set("state", "closed"),
            vec![Condition::equals("state", "shut")],
        )
        .await,
        0,
    );
    assert_condition_failed(
        r.update(
            &k,
            Update::new().set("state", "closed"),
            vec![Condition::equals("nope", "open")],
        )
        .await,
        0,
    );
    r.update(
        &k,
        Update::new().set("state", "closed"),
        vec![
            Condition::equals("state", "open"),
            Condition::equals("n", 10),
        ],
    )
    .await
    .unwrap();

    // AtLeast: at the bound passes, over it fails, a missing or non-numeric attribute fails.
    assert_condition_failed(
        r.update(
            &k,
            Update::new().add("n", -11),
            vec![Condition::at_least("n", 11)],
        )
        .await,
        0,
    );
    assert_condition_failed(
        r.update(
            &k,
            Update::new().add("n", -1),
            vec![Condition::at_least("absent", 0)],
        )
        .await,
        0,
    );
    assert_condition_failed(
        r.update(
            &k,
            Update::new().add("n", -1),
            vec![Condition::at_least("state", 0)],
        )
        .await,
        0,
    );
    let after = r
        .update(
            &k,
            Update::new().add("n", -10),
            vec![Condition::at_least("n", 10)],
        )
        .await
        .unwrap();
    assert_eq!(after["n"], json!(0));

    // Several conditions: all must hold.
    assert_condition_failed(
        r.delete(
            &k,
            vec![Condition::Exists, Condition::equals("state", "open")],
        )
        .await,
        0,
    );
    assert!(r.get(&k).await.unwrap().is_some());
    let gone = r
        .delete(
            &k,
            vec![Condition::Exists, Condition::equals("state", "closed")],
        )
        .await
        .unwrap();
    assert_eq!(gone.unwrap()["a"], json!(1));
    assert_condition_failed(r.delete(&k, vec![Condition::Exists]).await, 0);
    assert_condition_failed(r.put(base.clone(), vec![Condition::Exists]).await, 0);
    assert_eq!(r.get(&k).await.unwrap(), None);
}

pub async fn update_semantics(b: &dyn Backend) {
    let r = b.records().await;
    let k = Key::new(format!("{}#U", tenant()), "1");
    let created = r
        .update(&k, Update::new().set("title", "t").add("count", 5), vec![])
        .await
        .unwrap();
    assert_eq!(
        Value::Object(created),
        json!({"pk": k.pk, "sk": k.sk, "title": "t", "count": 5})
    );
    let next = r
        .update(
            &k,
            Update::new()
                .add("count", -7)
                .remove("title")
                .set("tags", json!(["a"])),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(next.clone()),
        json!({"pk": k.pk, "sk": k.sk, "count": -2, "tags": ["a"]})
    );
    assert_eq!(r.get(&k).await.unwrap(), Some(next.clone()));
    assert_validation(
        r.update(&k, Update::new().set("pk", "other"), vec![]).await,
        "update",
    );
    assert_validation(r.update(&k, Update::new(), vec![]).await, "update");
    let wrong = r.update(&k, Update::new().add("tags", 1), vec![]).await;
    assert!(
        matches!(wrong, Err(Error::Validation { .. })),
        "adding to a list is refused: {wrong:?}"
    );
    assert_eq!(r.get(&k).await.unwrap(), Some(next));
}

pub async fn transaction_all_or_nothing(b: &dyn Backend) {
    let r = b.records().await;
    let pk = format!("{}#T", tenant());
    let k = |s: &str| Key::new(pk.clone(), s);
    let mk = |s: &str, v: Value| {
        let mut i = item(v);
        i.insert("pk".into(), json!(pk));
        i.insert("sk".into(), json!(s));
        i
    };
    r.put(mk("balance", json!({"available": 10})), vec![])
        .await
        .unwrap();
    r.put(mk("old", json!({"x": 1})), vec![]).await.unwrap();

    // The last write's condition fails: nothing of the first two is written.
    let failing = vec![
        Write::put(mk("job", json!({"state": "reserved"}))).when(Condition::NotExists),
        Write::update(k("balance"), Update::new().add("available", -4))
            .when(Condition::at_least("available", 4)),
        Write::delete(k("old")).when(Condition::equals("x", 2)),
    ];
    assert_condition_failed(r.transact(failing).await, 2);
    assert_eq!(r.get(&k("job")).await.unwrap(), None);
    assert_eq!(
        r.get(&k("balance")).await.unwrap().unwrap()["available"],
        json!(10)
    );
    assert!(r.get(&k("old")).await.unwrap().is_some());

    // The middle one fails: reported as write 1.
    let failing = vec![
        Write::put(mk("job", json!({"state": "reserved"}))).when(Condition::NotExists),
        Write::update(k("balance"), Update::new().add("available", -40))
            .when(Condition::at_least("available", 40)),
        Write::check(k("old"), vec![Condition::Exists]),
    ];
    assert_condition_failed(r.transact(failing).await, 1);
    assert_eq!(r.get(&k("job")).await.unwrap(), None);

    // All hold: all are written.
    let ok = vec![
        Write::put(mk("job", json!({"state": "reserved"}))).when(Condition::NotExists),
        Write::update(k("balance"), Update::new().add("available", -4))
            .when(Condition::at_least("available", 4)),
        Write::delete(k("old")).when(Condition::equals("x", 1)),
        Write::check(k("missing"), vec![Condition::NotExists]),
    ];
    r.transact(ok.clone()).await.unwrap();
    assert_eq!(
        r.get(&k("job")).await.unwrap().unwrap()["state"],
        json!("reserved")
    );
    assert_eq!(
        r.get(&k("balance")).await.unwrap().unwrap()["available"],
        json!(6)
    );
    assert_eq!(r.get(&k("old")).await.unwrap(), None);
    assert_eq!(
        r.get(&k("missing")).await.unwrap(),
        None,
        "a check writes nothing"
    );

    // A replay of the same transaction fails on its first condition and charges nothing.
    assert_condition_failed(r.transact(ok).await, 0);
    assert_eq!(
        r.get(&k("balance")).await.unwrap().unwrap()["available"],
        json!(6)
    );
}

pub async fn transaction_refusals(b: &dyn Backend) {
    let r = b.records().await;
    let pk = format!("{}#R", tenant());
    let w = |s: String| Write::put(item(json!({"pk": pk, "sk": s})));
    assert_validation(r.transact(vec![]).await, "transaction");
    assert_validation(
        r.transact(vec![w("a".into()), w("a".into())]).await,
        "transaction",
    );
    assert_validation(
        r.transact((0..101).map(|i| w(format!("{i:03}"))).collect())
            .await,
        "transaction",
    );
    assert_eq!(
        r.query(Query::partition(&pk)).await.unwrap().items.len(),
        0,
        "refused transactions write nothing"
    );
    r.transact((0..100).map(|i| w(format!("{i:03}"))).collect())
        .await
        .unwrap();
    let all = r.query(Query::partition(&pk).limit(1000)).await.unwrap();
    assert_eq!(
        all.items.len(),
        100,
        "a transaction of 100 writes is allowed"
    );
}

async fn collect_pages(
    r: &Arc<dyn recap_domain::records::Records>,
    q: Query,
) -> (Vec<Vec<String>>, usize) {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = r.query(q.clone().after(cursor)).await.unwrap();
        pages.push(
            page.items
                .iter()
                .map(|i| i["sk"].as_str().unwrap_or_default().to_string())
                .collect(),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
    let n = pages.iter().map(Vec::len).sum();
    (pages, n)
}

pub async fn query_order_and_paging(b: &dyn Backend) {
    let r = b.records().await;
    let pk = format!("{}#Q", tenant());
    let other_pk = format!("{}#Q", tenant());
    // Written out of order; sort keys compare as bytes ("B" < "a", "é" after "z").
    let mut sks: Vec<String> = (0..25).map(|i| format!("A#{i:02}")).collect();
    sks.extend(["B#1", "a#1", "é#1", "A"].map(String::from));
    let mut shuffled = sks.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    for s in &shuffled {
        r.put(item(json!({"pk": pk, "sk": s, "v": s})), vec![])
            .await
            .unwrap();
    }
    r.put(item(json!({"pk": other_pk, "sk": "A#00"})), vec![])
        .await
        .unwrap();

    let mut sorted = sks.clone();
    sorted.sort();
    let (pages, n) = collect_pages(&r, Query::partition(&pk).limit(7)).await;
    assert_eq!(n, sorted.len());
    assert_eq!(pages.concat(), sorted, "ascending byte order across pages");
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![7, 7, 7, 7, 1],
        "no empty last page"
    );

    let a: Vec<String> = (0..25).map(|i| format!("A#{i:02}")).collect();
    let (pages, _) = collect_pages(&r, Query::partition(&pk).begins_with("A#").limit(10)).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
    assert_eq!(pages.concat(), a);

    let (pages, _) = collect_pages(
        &r,
        Query::partition(&pk)
            .begins_with("A#")
            .limit(10)
            .descending(),
    )
    .await;
    let mut rev = a.clone();
    rev.reverse();
    assert_eq!(pages.concat(), rev, "descending across pages");

    let (pages, _) = collect_pages(
        &r,
        Query::partition(&pk)
            .sk(SortKey::Between("A#05".into(), "A#09".into()))
            .limit(2),
    )
    .await;
    assert_eq!(pages.concat(), a[5..=9].to_vec(), "between is inclusive");
    let (pages, _) = collect_pages(
        &r,
        Query::partition(&pk)
            .sk(SortKey::AtLeast("A#20".into()))
            .begins_with("A#20")
            .limit(50),
    )
    .await;
    assert_eq!(pages.concat(), vec!["A#20".to_string()]);
    let (pages, _) = collect_pages(
        &r,
        Query::partition(&pk)
            .sk(SortKey::AtLeast("B".into()))
            .limit(50),
    )
    .await;
    assert_eq!(pages.concat(), vec!["B#1", "a#1", "é#1"]);
    let (pages, _) = collect_pages(
        &r,
        Query::partition(&pk)
            .sk(SortKey::AtMost("A#01".into()))
            .limit(50)
            .descending(),
    )
    .await;
    assert_eq!(pages.concat(), vec!["A#01", "A#00", "A"]);
    let exact = r
        .query(Query::partition(&pk).begins_with("A#").limit(25))
        .await
        .unwrap();
    assert_eq!(
        (exact.items.len(), exact.next_cursor),
        (25, None),
        "a full last page has no cursor"
    );
    let none = r
        .query(Query::partition(format!("{}#Q", tenant())))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

pub async fn index_query_and_paging(b: &dyn Backend) {
    let r = b.records().await;
    let t = tenant();
    let list = format!("{t}#LIST");
    for i in 0..12 {
        // Items of several partitions in one index partition; two share an index sort key.
        let sk = if i == 11 {
            "2026-01-10".to_string()
        } else {
            format!("2026-01-{i:02}")
        };
        r.put(item(json!({"pk": format!("{t}#ITEM#{i:02}"), "sk": "META", "gsi1pk": list, "gsi1sk": sk, "n": i})), vec![]).await.unwrap();
    }
    r.put(
        item(json!({"pk": format!("{t}#ITEM#99"), "sk": "META", "n": 99})),
        vec![],
    )
    .await
    .unwrap();
    let q = Query::partition(&list)
        .on(Index::Gsi1)
        .limit(5)
        .descending();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = r.query(q.clone().after(cursor)).await.unwrap();
        pages += 1;
        seen.extend(p.items.iter().map(|i| i["n"].as_i64().unwrap_or(-1)));
        match p.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 20);
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen.len(),
        12,
        "every indexed item once, the unindexed one never: {seen:?}"
    );
    assert!(!seen.contains(&99));
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 12);
    // 10 and 11 share the newest index sort key; the rest follow newest first.
    let mut newest = seen[..2].to_vec();
    newest.sort();
    assert_eq!(newest, vec![10, 11], "{seen:?}");
    assert_eq!(
        seen[2..].to_vec(),
        (0..10).rev().collect::<Vec<i64>>(),
        "newest first"
    );

    // Moving an item in the index, and out of it.
    r.update(
        &Key::new(format!("{t}#ITEM#00"), "META"),
        Update::new().set("gsi1sk", "2027"),
        vec![],
    )
    .await
    .unwrap();
    r.update(
        &Key::new(format!("{t}#ITEM#01"), "META"),
        Update::new().remove("gsi1pk"),
        vec![],
    )
    .await
    .unwrap();
    r.delete(&Key::new(format!("{t}#ITEM#02"), "META"), vec![])
        .await
        .unwrap();
    let p = r
        .query(
            Query::partition(&list)
                .on(Index::Gsi1)
                .limit(100)
                .descending(),
        )
        .await
        .unwrap();
    let ns: Vec<i64> = p
        .items
        .iter()
        .map(|i| i["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(ns.len(), 10);
    assert_eq!(ns[0], 0, "the moved item sorts first");
    assert!(!ns.contains(&1) && !ns.contains(&2));
    let p = r
        .query(
            Query::partition(&list)
                .on(Index::Gsi1)
                .begins_with("2026-01-0")
                .limit(100),
        )
        .await
        .unwrap();
    assert_eq!(p.items.len(), 7);
}

pub async fn cursor_from_elsewhere_is_refused(b: &dyn Backend) {
    let r = b.records().await;
    let (ta, tb) = (tenant(), tenant());
    for t in [&ta, &tb] {
        for i in 0..3 {
            r.put(item(json!({"pk": format!("{t}#X"), "sk": format!("A#{i}"), "gsi1pk": format!("{t}#L"), "gsi1sk": format!("{i}")})), vec![]).await.unwrap();
        }
    }
    let qa = Query::partition(format!("{ta}#X")).limit(1);
    let ca = r.query(qa.clone()).await.unwrap().next_cursor.unwrap();
    assert_eq!(
        r.query(qa.clone().after(Some(ca.clone())))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // Tenant B presenting tenant A's cursor, another range, direction or index: refused.
    assert_validation(
        r.query(
            Query::partition(format!("{tb}#X"))
                .limit(1)
                .after(Some(ca.clone())),
        )
        .await,
        "cursor",
    );
    assert_validation(
        r.query(qa.clone().begins_with("B").after(Some(ca.clone())))
            .await,
        "cursor",
    );
    assert_validation(
        r.query(qa.clone().descending().after(Some(ca.clone())))
            .await,
        "cursor",
    );
    assert_validation(
        r.query(
            Query::partition(format!("{ta}#L"))
                .on(Index::Gsi1)
                .after(Some(ca.clone())),
        )
        .await,
        "cursor",
    );
    assert_validation(
        r.query(qa.clone().after(Some("not a cursor".into()))).await,
        "cursor",
    );
    let ia = Query::partition(format!("{ta}#L")).on(Index::Gsi1).limit(1);
    let ci = r.query(ia.clone()).await.unwrap().next_cursor.unwrap();
    assert_validation(
        r.query(
            Query::partition(format!("{tb}#L"))
                .on(Index::Gsi1)
                .after(Some(ci.clone())),
        )
        .await,
        "cursor",
    );
    assert_validation(
        r.query(
            Query::partition(format!("{ta}#L"))
                .on(Index::Gsi2)
                .after(Some(ci)),
        )
        .await,
        "cursor",
    );
}

pub async fn bad_input_writes_nothing(b: &dyn Backend) {
    let r = b.records().await;
    let pk = format!("{}#B", tenant());
    let big = "x".repeat(400 * 1024);
    assert_validation(
        r.put(item(json!({"pk": pk, "sk": "big", "body": big})), vec![])
            .await,
        "item",
    );
    assert_eq!(r.get(&Key::new(pk.clone(), "big")).await.unwrap(), None);
    r.put(
        item(json!({"pk": pk, "sk": "grow", "body": "small"})),
        vec![],
    )
    .await
    .unwrap();
    assert!(matches!(
        r.update(
            &Key::new(pk.clone(), "grow"),
            Update::new().set("body", big.clone()),
            vec![]
        )
        .await,
        Err(Error::Validation { .. })
    ));
    assert_eq!(
        r.get(&Key::new(pk.clone(), "grow")).await.unwrap().unwrap()["body"],
        json!("small")
    );
    assert_validation(r.put(item(json!({"pk": pk})), vec![]).await, "sk");
    assert_validation(
        r.put(item(json!({"pk": "", "sk": "a"})), vec![]).await,
        "pk",
    );
    assert_validation(r.put(item(json!({"pk": pk, "sk": 5})), vec![]).await, "sk");
    assert_validation(
        r.put(item(json!({"pk": pk, "sk": "a", "gsi1pk": 7})), vec![])
            .await,
        "gsi1pk",
    );
    assert_validation(r.get(&Key::new("", "a")).await, "pk");
    assert_validation(r.query(Query::partition(&pk).limit(0)).await, "limit");
    assert_validation(
        r.put(
            item(json!({"pk": pk, "sk": "a"})),
            vec![Condition::Equals("x".into(), Value::Null)],
        )
        .await,
        "condition",
    );
    let page = r.query(Query::partition(&pk).limit(100)).await.unwrap();
    assert_eq!(page.items.len(), 1, "only the one good item was written");
}

pub async fn concurrent_conditional_updates_lose_nothing(b: &dyn Backend) {
    let r = b.records().await;
    let k = Key::new(format!("{}#N", tenant()), "counter");
    r.put(
        item(json!({"pk": k.pk, "sk": k.sk, "n": 0, "added": 0})),
        vec![],
    )
    .await
    .unwrap();
    // Fifty read-modify-write loops, each guarded by the value it read.
    let tasks = (0..50).map(|i| {
        let r = r.clone();
        let k = k.clone();
        tokio::spawn(async move {
            let mut conflicts = 0u32;
            loop {
                let cur = r.get(&k).await.unwrap().unwrap()["n"].as_i64().unwrap();
                match r
                    .update(
                        &k,
                        Update::new().set("n", cur + 1),
                        vec![Condition::equals("n", cur)],
                    )
                    .await
                {
                    Ok(_) => return conflicts,
                    Err(e) if e.failed_write() == Some(0) => {
                        conflicts += 1;
                        let jitter = (i * 7 + conflicts as u64 * 13) % 20;
                        tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        })
    });
    let conflicts: u32 = join_all(tasks).await.into_iter().map(|r| r.unwrap()).sum();
    // And fifty atomic adds at once.
    let adds = (0..50).map(|_| {
        let r = r.clone();
        let k = k.clone();
        tokio::spawn(async move {
            r.update(&k, Update::new().add("added", 1), vec![Condition::Exists])
                .await
        })
    });
    for a in join_all(adds).await {
        a.unwrap().unwrap();
    }
    let done = r.get(&k).await.unwrap().unwrap();
    assert_eq!(
        done["n"],
        json!(50),
        "no lost update ({conflicts} conflicts were retried)"
    );
    assert_eq!(done["added"], json!(50));
}
