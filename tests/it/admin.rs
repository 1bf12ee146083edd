//! The admin CLI `tokens`, run as a process against the same server as the DynamoDB tests.

use api_tokens::token::Token;
use chrono::{DateTime, TimeDelta, Utc};

use crate::support::dynalite::*;
use crate::support::*;

fn cli(table: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
        .arg("--table")
        .arg(table)
        .args(args)
        .output()
        .expect("the tokens binary runs")
}

#[tokio::test]
async fn a_token_made_by_the_cli_lists_until_it_is_revoked() {
    let store = fresh_table().await;
    let org = ORG_A.to_string();
    let created = cli(
        store.table(),
        &[
            "create",
            "--org",
            &org,
            "--name",
            "ci",
            "--scope",
            "api_tokens:read",
            "--expires-in",
            "30d",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let printed = String::from_utf8(created.stdout).unwrap();
    let token = Token::parse(printed.trim()).expect("create prints one token");
    assert_eq!(token.id().get_version_num(), 7);

    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["items"][0]["name"], "ci");
    let expires: DateTime<Utc> = answer.body["items"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (expires - Utc::now() - TimeDelta::days(30))
            .num_seconds()
            .abs()
            < 60
    );

    let listed = cli(store.table(), &["list", "--org", &org]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], token.id().to_string());
    assert!(!listed.to_string().contains("secret_hash"));

    let id = token.id().to_string();
    assert!(
        cli(store.table(), &["revoke", "--org", &org, "--id", &id])
            .status
            .success()
    );
    assert_eq!(Call::list(ORG_A, &token).send(&store).await.status, 401);
    assert!(
        !cli(store.table(), &["revoke", "--org", &org, "--id", &id])
            .status
            .success()
    );
}

#[tokio::test]
async fn the_cli_refuses_a_bad_name() {
    let store = fresh_table().await;
    let long = "x".repeat(101);
    for name in ["", long.as_str()] {
        let output = cli(
            store.table(),
            &[
                "create",
                "--org",
                &ORG_A.to_string(),
                "--name",
                name,
                "--scope",
                "admin",
                "--no-expiry",
            ],
        );
        assert!(!output.status.success());
        assert!(output.stdout.is_empty());
        assert!(String::from_utf8_lossy(&output.stderr).contains("--name"));
    }
}

#[tokio::test]
async fn seeding_the_demo_twice_changes_nothing() {
    let store = fresh_table().await;
    let first = cli(store.table(), &["seed-demo"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let demo = api_tokens::demo::admin_token();
    assert!(String::from_utf8_lossy(&first.stdout).contains(demo.expose()));
    let org = api_tokens::demo::DEMO_ORG;
    let once = Call::list(org, &demo).send(&store).await;
    assert!(cli(store.table(), &["seed-demo"]).status.success());
    let twice = Call::list(org, &demo).send(&store).await;
    assert_eq!(once.ids(), twice.ids());
    assert_eq!(once.ids().len(), 6);
}

/// `tokens create` in ORG_A with these arguments besides `--org` and `--name`.
fn create(table: &str, args: &[&str]) -> std::process::Output {
    let org = ORG_A.to_string();
    let mut all = vec!["create", "--org", &org, "--name", "t"];
    all.extend_from_slice(args);
    cli(table, &all)
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_cli_requires_an_expiry_or_an_explicit_no_expiry() {
    let store = fresh_table().await;
    let neither = create(store.table(), &["--scope", "admin"]);
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("--expires-in"),
        "{}",
        stderr(&neither)
    );
    assert!(neither.stdout.is_empty());
    let both = create(
        store.table(),
        &["--scope", "admin", "--expires-in", "1d", "--no-expiry"],
    );
    assert!(!both.status.success());
    let never = create(store.table(), &["--scope", "admin", "--no-expiry"]);
    assert!(never.status.success(), "{}", stderr(&never));
    let token = Token::parse(String::from_utf8_lossy(&never.stdout).trim()).unwrap();
    let answer = Call::list(ORG_A, &token).send(&store).await;
    assert_eq!(
        answer.body["items"][0]["expires_at"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn the_cli_refuses_a_token_without_a_scope_or_with_a_badly_formed_one() {
    let store = fresh_table().await;
    for args in [
        vec!["--no-expiry"],
        vec!["--no-expiry", "--scope", "Admin"],
        vec!["--no-expiry", "--scope", "api tokens:read"],
        vec!["--no-expiry", "--scope", "admin", "--scope", "a:b:c"],
    ] {
        let output = create(store.table(), &args);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains("--scope"), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
    }
    assert!(
        cli(store.table(), &["list", "--org", &ORG_A.to_string()])
            .stdout
            .starts_with(b"[]")
    );
}

#[tokio::test]
async fn the_cli_warns_about_a_scope_this_service_does_not_know() {
    let store = fresh_table().await;
    let output = create(
        store.table(),
        &[
            "--no-expiry",
            "--scope",
            "api_tokens:read",
            "--scope",
            "billing:read",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let warnings = stderr(&output);
    assert!(
        warnings.contains("warning") && warnings.contains("billing:read"),
        "{warnings}"
    );
    assert!(!warnings.contains("api_tokens:read;"), "{warnings}");
}

#[test]
fn seeding_the_demo_is_refused_unless_the_endpoint_is_loopback() {
    for (name, url) in [
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            "https://dynamodb.us-east-1.amazonaws.com",
        ),
        ("AWS_ENDPOINT_URL", "https://dynamodb.example.invalid"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
            .arg("seed-demo")
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("AWS_ENDPOINT_URL")
            .env(name, url)
            .output()
            .expect("the tokens binary runs");
        assert!(!output.status.success(), "{url}");
        assert!(output.stdout.is_empty(), "{url}");
        let message = stderr(&output);
        assert!(
            message.contains("loopback") && message.contains(url),
            "{message}"
        );
    }
}

#[test]
fn seeding_the_demo_without_any_endpoint_is_refused_as_aws() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokens"))
        .arg("seed-demo")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("the tokens binary runs");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("would go to AWS"),
        "{}",
        stderr(&output)
    );
}
