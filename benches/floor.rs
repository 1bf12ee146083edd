//! The cold-start benchmark's floor (`benches/README.md`): the DynamoDB reads that any function
//! answering this endpoint must make, after the service's own start-up (`startup::store`: trust
//! roots, SDK configuration, store, warm-up read), and nothing else. For each event it
//! reads the credential item (GetItem), then the page (Query), and answers how many items it read:
//! no checks, no `last_used_at` write, no JSON encoding, no logging. The service's cold start over
//! this one's is what its own work costs; this one's over the hello world's is what reading
//! DynamoDB costs.

use api_tokens::auth::bearer_token;
use api_tokens::dynamo::DynamoStore;
use api_tokens::request::{MAX_LIMIT, match_route, parse_org};
use api_tokens::startup;
use api_tokens::store::TokenStore;
use lambda_http::{Body, Error, Request, Response, service_fn};

fn main() -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let store = startup::store().await;
            lambda_http::run(service_fn(move |request| read(store, request))).await
        })
}

async fn read(store: &DynamoStore, request: Request) -> Result<Response<Body>, Error> {
    let org = match_route(request.uri().path(), None).ok_or("not the list route")?;
    let org = parse_org(org).map_err(|_| "not an organization id")?;
    let token = bearer_token(request.headers()).map_err(|_| "no token")?;
    store.credential(org, token.id()).await?;
    let page = store.page(org, None, MAX_LIMIT).await?;
    Ok(Response::new(Body::from(format!("{} items", page.len()))))
}
