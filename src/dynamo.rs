//! The DynamoDB store: the table of the contract, read and written through the AWS SDK.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_smithy_types::retry::ProvideErrorKind;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{
    Credential, RECORD_USE_TIMEOUT, StoreError, Timestamp, TokenRecord, TokenStore, TokenSummary,
};

/// The table name when `TABLE_NAME` is not set.
pub const DEFAULT_TABLE: &str = "api_tokens";

/// Both key attributes of the warm-up read. Not a UUID, so no item of the contract has it.
const WARM_UP_KEY: &str = "warm-up";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client of `config` and the table from the environment: `TABLE_NAME`. The endpoint comes
    /// through the SDK's own `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`.
    pub fn from_env(config: &SdkConfig) -> Self {
        let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| DEFAULT_TABLE.to_owned());
        Self::new(Client::new(config), table)
    }

    /// Opens the connection to DynamoDB, TLS included, and runs the SDK's request path once:
    /// one eventually consistent GetItem of a key no item has (half a read unit). Meant for
    /// init, which Lambda runs at full CPU, so that the first request does not pay for the
    /// handshake and the first touch of that code at the memory size's small CPU share.
    /// Never fails: an error is logged, bounded by the SDK's timeouts, and the first request
    /// simply connects again.
    pub async fn warm_up(&self) {
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(WARM_UP_KEY, WARM_UP_KEY)))
            .send()
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %classify("GetItem", error), "warm-up read failed");
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table of the contract unless it exists. For local runs and tests; deployed
    /// tables come from the SAM template.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("org_id", KeyType::Hash).map_err(built)?)
            .key_schema(key("id", KeyType::Range).map_err(built)?)
            .attribute_definitions(attribute("org_id").map_err(built)?)
            .attribute_definitions(attribute("id").map_err(built)?)
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => {}
            Err(e) => return Err(classify("CreateTable", e)),
        }
        self.wait_until_active().await
    }

    /// A new table takes writes only once it is ACTIVE.
    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..600 {
            let output = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| classify("DescribeTable", e))?;
            let status = output.table.and_then(|t| t.table_status);
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StoreError::Unavailable(format!(
            "table {} did not become ACTIVE",
            self.table
        )))
    }

    /// Writes a new token item; `false` when one with its key exists already.
    pub async fn insert(&self, record: &TokenRecord) -> Result<bool, StoreError> {
        let item: Item = serde_dynamo::to_item(record)
            .map_err(|e| StoreError::Failed(format!("encoding token {}: {e}", record.id)))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify("PutItem", e)),
        }
    }

    /// Deletes a token item; `false` when there was none.
    pub async fn delete(&self, org: Uuid, id: Uuid) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(org, id)))
            .condition_expression("attribute_exists(id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify("DeleteItem", e)),
        }
    }
}

impl TokenStore for DynamoStore {
    async fn credential(&self, org: Uuid, id: Uuid) -> Result<Option<Credential>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(org, id)))
            .consistent_read(true)
            .projection_expression("scopes, secret_hash, expires_at, last_used_at")
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        output
            .item
            .map(|item| {
                // The serde message could quote the stored hash, so it is not passed on.
                serde_dynamo::from_item(item)
                    .map_err(|_| StoreError::Malformed(format!("token item {id} of org {org}")))
            })
            .transpose()
    }

    async fn page(
        &self,
        org: Uuid,
        after: Option<Uuid>,
        count: usize,
    ) -> Result<Vec<TokenSummary>, StoreError> {
        let mut items: Vec<TokenSummary> = Vec::with_capacity(count);
        let mut start = after.map(|id| key(org, id));
        // One Query normally; more only if DynamoDB stops early at its 1 MB page size.
        loop {
            let remaining = i32::try_from(count - items.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("org_id = :org")
                .expression_attribute_values(":org", AttributeValue::S(org.to_string()))
                .projection_expression(
                    "id, org_id, #name, prefix, scopes, last_used_at, expires_at, created_at",
                )
                .expression_attribute_names("#name", "name")
                .scan_index_forward(false)
                .limit(remaining)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            for item in output.items.unwrap_or_default() {
                items.push(summary(item)?);
            }
            start = output.last_evaluated_key;
            if items.len() >= count || start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn record_use(
        &self,
        org: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Comparing the stored text with `:stale` as strings is sound for the contract's form:
        // RFC 3339 in UTC with `Z` and a four-digit year orders as text as it does in time, and
        // this function writes whole seconds only. A fraction written by another tool can only
        // sort a stored value up to one second early (`.` < `Z`), so a write may come at most
        // a second before its minute is over; never a second write within it.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(org, id)))
            .update_expression("SET last_used_at = :now")
            .condition_expression(
                "attribute_exists(id) AND (attribute_not_exists(last_used_at) OR last_used_at < :stale)",
            )
            .expression_attribute_values(":now", timestamp(now))
            .expression_attribute_values(":stale", timestamp(stale_before))
            .customize()
            .config_override(record_use_settings())
            .send()
            .await;
        match result {
            // Another request recorded it within the minute, or the token is gone: nothing to do.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            other => other.map(drop).map_err(|e| classify("UpdateItem", e)),
        }
    }
}

/// The `last_used_at` write's own settings: one attempt within `RECORD_USE_TIMEOUT`.
fn record_use_settings() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::new()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(RECORD_USE_TIMEOUT)
                .operation_timeout(RECORD_USE_TIMEOUT)
                .build(),
        )
}

/// One listed item, decoded; its id is named when it breaks the contract.
pub fn summary(item: Item) -> Result<TokenSummary, StoreError> {
    let id = match item.get("id") {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => String::from("without an id"),
    };
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Malformed(format!("token item {id}: {e}")))
}

/// The table's key of an item: UUIDs for tokens, any text for the warm-up read.
fn key(org: impl std::fmt::Display, id: impl std::fmt::Display) -> Item {
    HashMap::from([
        ("org_id".to_owned(), AttributeValue::S(org.to_string())),
        ("id".to_owned(), AttributeValue::S(id.to_string())),
    ])
}

fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(Timestamp::from(at).into_string())
}

fn built(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Failed(error.to_string())
}

/// `Unavailable` when the SDK got no usable answer, or one that a retry may fix; else `Failed`.
fn classify<E>(operation: &str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorKind + std::error::Error + 'static,
{
    // Only the Display chain: `DisplayErrorContext` and `Debug` also print the raw HTTP response,
    // whose body may be an item with its `secret_hash`.
    let mut text = format!("{operation}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if worth_a_retry(&error) {
        StoreError::Unavailable(text)
    } else {
        StoreError::Failed(text)
    }
}

/// Whether a later attempt may succeed, by the rules of the SDK's own retry classifiers: no
/// answer in time, no answer at all, an answer it could not read, any HTTP 5xx whatever its
/// body (a load balancer's HTML page included), an error modeled as retryable, a throttling or
/// transient error code. Then what those leave out but is no refusal either: HTTP 429, and a
/// 2xx whose body the SDK could not parse (a garbled answer, not a rejected request).
/// What remains is a request DynamoDB refused as it stands (a 4xx: validation, access, a
/// missing table). An item that breaks the contract is `Malformed`, decided after a good answer.
fn worth_a_retry<E: ProvideErrorKind>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status();
            let err = service.err();
            !status.is_client_error()
                || status.as_u16() == 429
                || err.retryable_error_kind().is_some()
                || err.code().is_some_and(|c| {
                    THROTTLING_ERRORS.contains(&c) || TRANSIENT_ERRORS.contains(&c)
                })
        }
        // The request could not even be built: a bug here, not a passing fault.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;
    use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
    use serde_json::Value;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    /// Keeps the operation and body of each request, and stops it before it is sent.
    #[derive(Clone, Debug, Default)]
    struct Capture(Arc<Mutex<Vec<(String, serde_json::Value)>>>);

    impl Intercept for Capture {
        fn name(&self) -> &'static str {
            "capture"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let request = context.request();
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let body = serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
            self.0.lock().unwrap().push((target.to_owned(), body));
            Err("stopped before transmit".into())
        }
    }

    /// A store whose requests stop before they leave the process, each kept in `capture`.
    fn capturing_store(capture: &Capture) -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .endpoint_url("http://127.0.0.1:9")
            .interceptor(capture.clone())
            .build();
        DynamoStore::new(Client::from_conf(config), "tokens")
    }

    /// Every attribute name an UpdateItem request names: its key's, and each name in its update
    /// and condition expressions, `#placeholders` resolved; functions, keywords and `:values`
    /// left out.
    fn attributes_named(body: &Value) -> BTreeSet<String> {
        const KEYWORDS: [&str; 9] = [
            "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "BETWEEN", "IN",
        ];
        let mut names: BTreeSet<String> =
            body["Key"].as_object().unwrap().keys().cloned().collect();
        for field in ["UpdateExpression", "ConditionExpression"] {
            let expression = body[field].as_str().unwrap_or_default();
            let is_name_char = |c: char| c.is_ascii_alphanumeric() || "_#:".contains(c);
            let mut rest = expression;
            while let Some(start) = rest.find(is_name_char) {
                let after = &rest[start..];
                let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
                let (word, tail) = after.split_at(end);
                rest = tail;
                let is_function = tail.trim_start().starts_with('(');
                if word.starts_with(':') || is_function || KEYWORDS.contains(&word) {
                    continue;
                }
                let name = match word.strip_prefix('#') {
                    Some(_) => body["ExpressionAttributeNames"][word].as_str().unwrap(),
                    None => word,
                };
                names.insert(name.to_owned());
            }
        }
        names
    }

    /// The attributes a template lets the function's role name in an UpdateItem: the
    /// `dynamodb:Attributes` condition of the one statement that allows it.
    fn allowed_by(template: &str) -> BTreeSet<String> {
        let path = format!("{}/{template}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        // Tags such as !GetAtt are dropped, which leaves the policy's shape as it is.
        let template: Value = serde_saphyr::from_str(&text).unwrap();
        let policies = &template["Resources"]["ListApiTokensFunction"]["Properties"]["Policies"];
        let statements: Vec<&Value> = policies
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|policy| policy["Statement"].as_array().unwrap())
            .filter(|s| s["Action"].to_string().contains("dynamodb:UpdateItem"))
            .collect();
        assert_eq!(
            statements.len(),
            1,
            "{template}: one statement allows UpdateItem"
        );
        let condition = &statements[0]["Condition"]["ForAllValues:StringEquals"];
        let allowed = condition["dynamodb:Attributes"].as_array().unwrap();
        allowed
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn the_last_used_at_write_names_only_attributes_the_templates_let_the_role_update() {
        let capture = Capture::default();
        let now = Utc::now();
        let org = Uuid::from_u128(1);
        let id = Uuid::from_u128(2);
        let result = capturing_store(&capture)
            .record_use(org, id, now, now - chrono::TimeDelta::seconds(60))
            .await;
        assert!(result.is_err(), "stopped before transmit");

        let requests = capture.0.lock().unwrap();
        let (operation, body) = requests.first().expect("one request");
        assert_eq!(operation, "DynamoDB_20120810.UpdateItem");
        let named = attributes_named(body);
        assert!(named.contains("last_used_at"), "{named:?}");
        for template in ["template.yaml", "template-managed-instances.yaml"] {
            let allowed = allowed_by(template);
            assert!(
                named.is_subset(&allowed),
                "{template} allows {allowed:?}; the write names {named:?}"
            );
        }
        // The templates allow ReturnValues NONE only, which is also what an absent one means.
        assert!(body.get("ReturnValues").is_none_or(|v| v == "NONE"));
    }

    #[test]
    fn attribute_names_are_read_from_the_key_and_both_expressions() {
        let body = serde_json::json!({
            "Key": {"org_id": {"S": "o"}, "id": {"S": "i"}},
            "UpdateExpression": "SET #n = :now, scopes = list_append(scopes, :s)",
            "ConditionExpression": "attribute_exists(id) AND (secret_hash < :x OR NOT size(#n) IN (:a))",
            "ExpressionAttributeNames": {"#n": "name"},
        });
        let expected = ["id", "name", "org_id", "scopes", "secret_hash"];
        assert_eq!(attributes_named(&body), expected.map(String::from).into());
    }

    #[tokio::test]
    async fn warm_up_is_one_eventually_consistent_get_of_a_key_no_item_has_and_never_fails() {
        let capture = Capture::default();
        let store = capturing_store(&capture);

        // The request fails before it leaves the process: warm_up logs it and returns.
        store.warm_up().await;

        let requests = capture.0.lock().unwrap();
        let (operation, body) = requests.first().expect("one request");
        assert_eq!(operation, "DynamoDB_20120810.GetItem");
        // No ConsistentRead: eventually consistent, half a read unit.
        assert_eq!(
            body,
            &serde_json::json!({
                "TableName": "tokens",
                "Key": {"org_id": {"S": WARM_UP_KEY}, "id": {"S": WARM_UP_KEY}},
            })
        );
        assert!(Uuid::parse_str(WARM_UP_KEY).is_err());
    }
}
