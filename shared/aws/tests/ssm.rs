//! SsmParameters against the AWS-protocol emulator that `scripts/test` starts (moto's server
//! on 127.0.0.1): SecureString values come back decrypted, by name, and a name SSM does not
//! have is an error that lists it. Without `AWS_ENDPOINT_URL` this fails, loudly.

use aws_sdk_ssm::types::ParameterType;
use recap_aws::{AwsConfig, SsmParameters};

#[tokio::test]
async fn secure_strings_come_back_decrypted_and_a_missing_name_is_an_error_naming_it() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "this test needs the emulator on 127.0.0.1 (AWS_ENDPOINT_URL={endpoint:?}): run ./scripts/test"
    );
    let aws = AwsConfig::from_env().await;
    let client = aws.ssm();
    let prefix = format!("/recap/test-{}", uuid::Uuid::new_v4().simple());
    // Eleven: more than one GetParameters call takes.
    let names: Vec<String> = (0..11).map(|i| format!("{prefix}/key-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        client
            .put_parameter()
            .name(name)
            .value(format!("sk-secret-{i}"))
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let ssm = SsmParameters::new(client);
    let values = ssm.values(&names).await.unwrap();
    assert_eq!(values.len(), 11);
    assert_eq!(values[&names[0]], "sk-secret-0");
    assert_eq!(values[&names[10]], "sk-secret-10");

    let absent = format!("{prefix}/absent");
    let err = ssm
        .values(&[names[0].clone(), absent.clone()])
        .await
        .unwrap_err();
    let message = format!("{err:#} {:?}", std::error::Error::source(&err));
    assert!(message.contains(&absent), "{message}");
    assert!(
        !message.contains("sk-secret"),
        "no value in errors: {message}"
    );
}
