//! Transcripts on DynamoDB, S3 and SQS (the emulator that `scripts/test` starts): S3 itself
//! announces the upload on an SQS queue, and the upload trigger reads S3's own event JSON.
//! Without `AWS_ENDPOINT_URL` this fails, loudly: it never skips.

use std::time::Duration;

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use recap_aws::{AwsConfig, DynamoRecords, S3Files, SqsQueue, provision};
use recap_domain::access::{self, Caller};
use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::files::Files;
use recap_domain::ids::{TenantId, UserId};
use recap_domain::queue::Queue;
use recap_domain::transcripts::{
    self, Ingested, ListFilter, NewTranscript, Ports, TranscriptPatch,
};

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn an_upload_announced_by_s3_on_sqs_becomes_a_ready_transcript() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "needs the emulator on 127.0.0.1 (AWS_ENDPOINT_URL={endpoint:?}): run ./scripts/test"
    );
    let config = AwsConfig::from_env().await;
    let (table, bucket) = (name("recap"), name("recap"));
    provision::create_table(&config.dynamodb(), &table)
        .await
        .unwrap();
    provision::create_bucket(&config.s3(), &bucket)
        .await
        .unwrap();
    let (queue_url, _dlq) = provision::create_queue_with_dlq(&config.sqs(), &name("uploads"), 5)
        .await
        .unwrap();
    let arn = config
        .sqs()
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    config
        .s3()
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("on-upload")
                        .queue_arn(arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let records = DynamoRecords::new(config.dynamodb(), &table);
    let files = S3Files::new(config.s3(), &bucket);
    let queue = SqsQueue::new(config.sqs(), &queue_url);
    let ports = Ports {
        records: &records,
        files: &files,
        clock: &SystemClock,
        ids: &SystemIds,
    };
    let caller = Caller {
        user: UserId::parse("7c9e6679-7425-40de-944b-e07fc1f90ae7").unwrap(),
        tenant: TenantId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap(),
        email: Some("ada@example.com".into()),
        platform_admin: false,
    };
    let who = access::load(&records, &SystemClock, &caller).await.unwrap();
    assert_eq!(who.user.role.as_str(), "admin");
    recap_domain::transcript_types::seed(&records)
        .await
        .unwrap();

    let vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Ada>Shall we start with the roadmap?\n\n00:00:04.500 --> 00:00:09.000\n<v Grace>Yes, and then the budget.\n";
    let created = transcripts::create(
        ports,
        &who,
        NewTranscript {
            title: Some("Roadmap".into()),
            kind: Some("meeting".into()),
            content: Some(vtt.into()),
            file_name: Some("Réunion (1) + notes.vtt".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let id = created.transcript.id;

    // S3's events, as S3 (here the emulator) wrote them to the queue: first the
    // `s3:TestEvent` it sends when notifications are configured (no records: nothing to do),
    // then the upload's.
    let mut outcomes = Vec::new();
    let mut bodies = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while outcomes.is_empty() && std::time::Instant::now() < deadline {
        for m in queue
            .receive(10, Duration::from_secs(30), Duration::from_secs(1))
            .await
            .unwrap()
        {
            outcomes.extend(
                transcripts::on_upload_event(ports, m.body.as_bytes())
                    .await
                    .unwrap(),
            );
            queue.delete(&m.receipt).await.unwrap();
            bodies.push(m.body);
        }
    }
    assert_eq!(outcomes, vec![Ingested::Ready(id)], "{bodies:?}");
    assert!(
        bodies.iter().any(|b| b.contains("s3:TestEvent")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("R%C3%A9union+%281%29+%2B+notes.vtt")),
        "S3 URL-encodes the key: {bodies:?}"
    );

    let t = transcripts::get(&records, &caller.tenant, &id)
        .await
        .unwrap();
    assert_eq!(t.segment_count, Some(2));
    assert_eq!(t.duration_ms, Some(9000));
    let names: Vec<&str> = t.speakers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Ada", "Grace"]);
    let segments = transcripts::segments(ports, &t).await.unwrap();
    assert_eq!(segments.segments[1].text, "Yes, and then the budget.");

    // The status index and the type filter on DynamoDB.
    let ready = ListFilter {
        status: Some(transcripts::Status::Ready),
        kind: Some("meeting".into()),
    };
    let (items, next) = transcripts::list(&records, &who, &ready, 10, None)
        .await
        .unwrap();
    assert_eq!((items.len(), next), (1, None));
    let failed = ListFilter {
        status: Some(transcripts::Status::Failed),
        kind: None,
    };
    assert!(
        transcripts::list(&records, &who, &failed, 10, None)
            .await
            .unwrap()
            .0
            .is_empty()
    );

    let renamed = transcripts::update(
        &records,
        &SystemClock,
        &who,
        &id,
        TranscriptPatch {
            speakers: Some([("spk_2".to_string(), "Grace Hopper".to_string())].into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.speakers_named()[1].name, "Grace Hopper");

    transcripts::delete(ports, &who, &id).await.unwrap();
    assert!(
        transcripts::get(&records, &caller.tenant, &id)
            .await
            .is_err()
    );
    let left = files
        .list(&format!("{}/", caller.tenant), None, 100)
        .await
        .unwrap();
    assert!(left.files.is_empty(), "{:?}", left.files);
}
