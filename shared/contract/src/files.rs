//! The files port's contract, including presigned URLs used by a real HTTP client.

use std::time::Duration;

use recap_domain::Error;
use recap_domain::files::{FileKey, MAX_FILE_BYTES, UploadPolicy};

use crate::Backend;

fn key(s: &str) -> FileKey {
    FileKey::parse(s).expect("a valid key")
}

fn tenant() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub async fn round_trip(b: &dyn Backend) {
    let f = b.files().await;
    let k = key(&format!("{}/transcripts/a b ü.vtt", tenant()));
    let body: Vec<u8> = (0..=255u8).chain(b"WEBVTT\r\n".iter().copied()).collect();
    assert_eq!(f.get(&k).await.unwrap(), None);
    assert_eq!(f.head(&k).await.unwrap(), None);
    f.put(&k, body.clone(), "text/vtt").await.unwrap();
    let (got, meta) = f.get(&k).await.unwrap().unwrap();
    assert_eq!(got, body);
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("text/vtt"));
    let head = f.head(&k).await.unwrap().unwrap();
    assert_eq!(
        (head.size, head.content_type.as_deref()),
        (body.len() as u64, Some("text/vtt"))
    );
    f.put(&k, b"replaced".to_vec(), "text/plain").await.unwrap();
    assert_eq!(f.get(&k).await.unwrap().unwrap().0, b"replaced");
    f.delete(&k).await.unwrap();
    assert_eq!(f.get(&k).await.unwrap(), None);
    f.delete(&k).await.unwrap();

    let over = vec![0u8; MAX_FILE_BYTES as usize + 1];
    match f.put(&k, over, "application/octet-stream").await {
        Err(Error::Validation { field, .. }) => assert_eq!(field, "file"),
        other => panic!("an oversize file was not refused: {other:?}"),
    }
    assert_eq!(f.head(&k).await.unwrap(), None, "nothing was written");
}

pub async fn list_by_prefix_with_paging(b: &dyn Backend) {
    let f = b.files().await;
    let t = tenant();
    let mut want = Vec::new();
    for i in (0..7).rev() {
        let k = key(&format!("{t}/a/{i}.json"));
        f.put(&k, vec![b'x'; i + 1], "application/json")
            .await
            .unwrap();
        want.push(k);
    }
    want.sort();
    f.put(&key(&format!("{t}/b/x")), b"x".to_vec(), "text/plain")
        .await
        .unwrap();
    f.put(&key(&format!("{t}0/a/x")), b"x".to_vec(), "text/plain")
        .await
        .unwrap();
    let prefix = format!("{t}/a/");
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = f.list(&prefix, cursor, 3).await.unwrap();
        pages += 1;
        assert!(
            page.files.iter().all(|m| m.content_type.is_none()),
            "listings carry no types"
        );
        got.extend(page.files.iter().map(|m| m.key.clone()));
        sizes.extend(page.files.iter().map(|m| m.size));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(got, want, "key order, only under the prefix");
    assert_eq!(sizes, (1..=7).collect::<Vec<u64>>());
    let all = f.list(&format!("{t}/"), None, 100).await.unwrap();
    assert_eq!(
        all.files.len(),
        8,
        "another tenant-like prefix is not included"
    );
    let first = f.list(&prefix, None, 3).await.unwrap().next_cursor.unwrap();
    assert!(matches!(
        f.list(&format!("{t}/b/"), Some(first), 3).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        f.list(&prefix, None, 0).await,
        Err(Error::Validation { .. })
    ));
}

pub async fn presigned_urls_over_http(b: &dyn Backend) {
    let f = b.files().await;
    let k = key(&format!("{}/uploads/My Meeting (1) – ü.vtt", tenant()));
    let body = b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n".to_vec();
    let policy = UploadPolicy {
        expires_in: Duration::from_secs(300),
        content_length: body.len() as u64,
        max_bytes: 1024,
        content_type: "text/vtt".into(),
    };
    let put = f.presign_put(&k, &policy).await.unwrap();
    assert_eq!(put.method, "PUT");
    let http = crate::http_client();
    let mut req = http.put(&put.url).body(body.clone());
    for (h, v) in &put.headers {
        if !h.eq_ignore_ascii_case("host") {
            req = req.header(h.as_str(), v.as_str());
        }
    }
    let res = req.send().await.unwrap();
    assert!(
        res.status().is_success(),
        "presigned PUT: {} {:?}",
        res.status(),
        res.text().await
    );
    assert_eq!(f.get(&k).await.unwrap().unwrap().0, body);

    let get = f.presign_get(&k, Duration::from_secs(60)).await.unwrap();
    let res = http.get(&get.url).send().await.unwrap();
    assert!(res.status().is_success(), "presigned GET: {}", res.status());
    assert_eq!(res.bytes().await.unwrap().to_vec(), body);

    let too_big = UploadPolicy {
        content_length: 2048,
        ..policy.clone()
    };
    assert!(matches!(
        f.presign_put(&k, &too_big).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        f.presign_get(&k, Duration::from_secs(8 * 24 * 3600)).await,
        Err(Error::Validation { .. })
    ));
}
