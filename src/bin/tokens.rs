//! `tokens`: the admin CLI that mints, lists and revokes API tokens in the table.

use std::process::ExitCode;
use std::time::Duration;

use api_tokens::admin;
use api_tokens::demo::{self, DEMO_ORG, DEMO_TOKENS};
use api_tokens::dynamo::{DEFAULT_TABLE, DynamoStore};
use api_tokens::startup::sdk_config;
use api_tokens::store::{StoreError, TokenRecord, TokenStore};
use api_tokens::token::Token;
use aws_sdk_dynamodb::Client;
use chrono::{SubsecRound, Utc};
use clap::{Parser, Subcommand};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Mint, list and revoke API tokens of the Aether platform")]
struct Cli {
    /// The DynamoDB table (the endpoint comes from AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL).
    #[arg(long, env = "TABLE_NAME", default_value = DEFAULT_TABLE, global = true)]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a token and print it once; only its hash is stored.
    ///
    /// Listing tokens needs the scope api_tokens:read, api_tokens:write or admin (write and admin
    /// include read). Other well-formed scopes are stored, with a warning: this service does not
    /// know them.
    Create {
        #[arg(long)]
        org: Uuid,
        /// A label of 1 to 100 characters.
        #[arg(long)]
        name: String,
        /// A scope, `word` or `word:word` in lowercase letters, digits and _, such as
        /// api_tokens:read; repeat for several. At least one.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime such as 30d or 12h. Either this or --no-expiry is required.
        #[arg(long, value_parser = humantime::parse_duration, required_unless_present = "no_expiry")]
        expires_in: Option<Duration>,
        /// The token never expires: say so explicitly.
        #[arg(long, conflicts_with = "expires_in")]
        no_expiry: bool,
    },
    /// Print the tokens of an organization as JSON, newest first.
    List {
        #[arg(long)]
        org: Uuid,
    },
    /// Delete a token; it stops working at once.
    Revoke {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        id: Uuid,
    },
    /// Create the table of the contract if it is missing (local runs; SAM creates deployed ones).
    CreateTable,
    /// Load the fixed demo organization and tokens (local use only: their secrets are public).
    /// Refused unless AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL is a loopback address.
    SeedDemo {
        /// Where the local function listens, for the printed curl line.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        url: String,
    },
    /// Print one demo token (default: demo-admin of the demo org).
    DemoToken {
        #[arg(long, default_value = "demo-admin")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match connect(&cli).await {
        Ok(store) => run(&store, cli.command).await,
        Err(message) => Err(message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The store of `--table`. Demo data may only go to a local endpoint: that is checked before the
/// SDK is even configured, so a refusal makes no network call, and the client is then pinned to
/// exactly the endpoint that was checked, whatever a profile might add.
async fn connect(cli: &Cli) -> Result<DynamoStore, String> {
    let local = match cli.command {
        Command::SeedDemo { .. } => Some(admin::local_endpoint(|name| std::env::var(name).ok())?),
        _ => None,
    };
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await);
    if let Some(endpoint) = local {
        config = config.endpoint_url(endpoint);
    }
    Ok(DynamoStore::new(
        Client::from_conf(config.build()),
        cli.table.clone(),
    ))
}

async fn run(store: &DynamoStore, command: Command) -> Result<(), String> {
    match command {
        Command::Create {
            org,
            name,
            scopes,
            expires_in,
            no_expiry: _,
        } => create(store, org, name, scopes, expires_in).await,
        Command::List { org } => {
            let mut all = Vec::new();
            loop {
                let page = store
                    .page(
                        org,
                        all.last().map(|t: &api_tokens::store::TokenSummary| t.id),
                        100,
                    )
                    .await
                    .map_err(describe)?;
                let done = page.len() < 100;
                all.extend(page);
                if done {
                    break;
                }
            }
            let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        Command::Revoke { org, id } => match store.delete(org, id).await.map_err(describe)? {
            true => {
                eprintln!("Revoked token {id} of org {org}.");
                Ok(())
            }
            false => Err(format!("org {org} has no token {id}")),
        },
        Command::CreateTable => {
            store.create_table().await.map_err(describe)?;
            eprintln!("Table {} is ready.", store.table());
            Ok(())
        }
        Command::DemoToken { name } => {
            let token = demo::token_named(&name).ok_or(format!("no demo token named {name}"))?;
            println!("{}", token.expose());
            Ok(())
        }
        Command::SeedDemo { url } => {
            store.create_table().await.map_err(describe)?;
            for demo in DEMO_TOKENS {
                // Existing items are kept, so seeding twice changes nothing.
                store.insert(&demo.record()).await.map_err(describe)?;
            }
            let token = demo::admin_token();
            println!("Demo data (local use only; these tokens are public):");
            println!("  org:   {DEMO_ORG}");
            println!("  token: {}", token.expose());
            println!(
                "  curl -s -H 'Authorization: Bearer {}' '{url}/api/v1/organizations/{DEMO_ORG}/api-tokens?limit=2'",
                token.expose()
            );
            Ok(())
        }
    }
}

async fn create(
    store: &DynamoStore,
    org: Uuid,
    name: String,
    scopes: Vec<String>,
    expires_in: Option<Duration>,
) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 100 {
        return Err("--name must be 1 to 100 characters".into());
    }
    for warning in admin::check_scopes(&scopes)? {
        eprintln!("{warning}");
    }
    let now = Utc::now().trunc_subsecs(0);
    let expires_at = expires_in
        .map(|d| chrono::TimeDelta::from_std(d).map(|d| now + d))
        .transpose()
        .map_err(|_| "--expires-in is too long".to_owned())?;
    let token = Token::generate().map_err(|e| format!("no randomness from the OS: {e}"))?;
    let record = TokenRecord {
        org_id: org,
        id: token.id(),
        name,
        prefix: token.prefix().to_owned(),
        scopes,
        secret_hash: token.secret_hash(),
        created_at: now.into(),
        expires_at: expires_at.map(Into::into),
        last_used_at: None,
    };
    if !store.insert(&record).await.map_err(describe)? {
        return Err(format!("token id {} exists already; run again", token.id()));
    }
    eprintln!(
        "Created token {} ({}) for org {org}. It is shown once; store it now:",
        record.id, record.prefix
    );
    println!("{}", token.expose());
    Ok(())
}

fn describe(error: StoreError) -> String {
    error.to_string()
}
