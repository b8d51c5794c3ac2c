//! Creates the table, bucket and queues as the deployment template does, for tests against
//! an emulator and for a first run against a fresh account.
//! Each part is there with its client's feature.

#[cfg(feature = "dynamodb")]
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
#[cfg(feature = "sqs")]
use aws_sdk_sqs::types::QueueAttributeName;
#[cfg(any(feature = "dynamodb", feature = "sqs"))]
use recap_domain::Error;
#[cfg(any(feature = "dynamodb", feature = "s3", feature = "sqs"))]
use recap_domain::Result;
#[cfg(feature = "dynamodb")]
use recap_domain::records::{Index, PK, SK};

#[cfg(any(feature = "dynamodb", feature = "s3", feature = "sqs"))]
use crate::sdk_err;

#[cfg(feature = "dynamodb")]
fn key(name: &str, t: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .map_err(|e| Error::unexpected("building a key schema", e))
}

#[cfg(feature = "dynamodb")]
fn attr(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| Error::unexpected("building an attribute", e))
}

/// The one table: `pk`/`sk` strings, and the sparse indexes `gsi1` and `gsi2`, on demand.
#[cfg(feature = "dynamodb")]
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<()> {
    let mut defs = vec![attr(PK)?, attr(SK)?];
    let mut gsis = Vec::new();
    for i in Index::ALL {
        let (p, s) = i.key_attrs();
        defs.push(attr(p)?);
        defs.push(attr(s)?);
        gsis.push(
            GlobalSecondaryIndex::builder()
                .index_name(i.name())
                .key_schema(key(p, KeyType::Hash)?)
                .key_schema(key(s, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| Error::unexpected("building an index", e))?,
        );
    }
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .set_attribute_definitions(Some(defs))
        .set_global_secondary_indexes(Some(gsis))
        .send()
        .await
        .map_err(|e| sdk_err("DynamoDB CreateTable", e))?;
    Ok(())
}

#[cfg(feature = "s3")]
pub async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| sdk_err("S3 CreateBucket", e))?;
    Ok(())
}

/// A queue (FIFO when `name` ends with `.fifo`) and its dead-letter queue, which takes a
/// message after `max_receive` receives. Returns (queue URL, DLQ URL).
#[cfg(feature = "sqs")]
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive: u32,
) -> Result<(String, String)> {
    let fifo = name.ends_with(".fifo");
    let dlq_name = match name.strip_suffix(".fifo") {
        Some(base) => format!("{base}-dlq.fifo"),
        None => format!("{name}-dlq"),
    };
    let mut dlq = client.create_queue().queue_name(&dlq_name);
    if fifo {
        dlq = dlq.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let dlq_url = dlq
        .send()
        .await
        .map_err(|e| sdk_err("SQS CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_err("SQS GetQueueAttributes", e))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| Error::unexpected("SQS", "the dead-letter queue has no ARN"))?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receive.to_string() });
    let mut q = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
    if fifo {
        q = q.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = q
        .send()
        .await
        .map_err(|e| sdk_err("SQS CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}
