//! Routing and parameters: which requests reach the list, and how their query is read.

use api_tokens::memory::MemoryStore;

use crate::support::*;

#[tokio::test]
async fn serves_the_route_from_an_http_api_event() {
    let (store, admin, records) = store_with(2);
    let answer = Call::list(ORG_A, &admin).send(&store).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn serves_the_route_from_a_rest_api_event_without_the_stage_in_the_path() {
    let (store, admin, records) = store_with(2);
    let request = Call::list(ORG_A, &admin).rest_api("prod");
    let answer = Answer::from(api_tokens::handle(&store, request).await);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn serves_the_route_from_a_rest_api_event_with_the_stage_in_the_path() {
    let (store, admin, records) = store_with(2);
    let mut call = Call::list(ORG_A, &admin);
    call.path = format!("/prod{}", call.path);
    let answer = Answer::from(api_tokens::handle(&store, call.rest_api("prod")).await);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), newest_first(&records));
}

#[tokio::test]
async fn routes_from_the_path_even_without_path_parameters() {
    // `cargo lambda watch` sends HTTP API events with empty pathParameters.
    let (store, admin, _) = store_with(0);
    let event = Call::list(ORG_A, &admin).http_api_event();
    assert!(event.get("pathParameters").is_none());
    let answer = Answer::from(api_tokens::handle(&store, to_request(&event)).await);
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_envelope() {
    let (store, admin, _) = store_with(0);
    for path in [
        "/".to_owned(),
        "/api/v1/organizations".to_owned(),
        format!("{}/", tokens_path(ORG_A)),
        format!("/api/v1/organizations/{ORG_A}/api-tokens/x"),
        format!("/api/v1/organizations/{ORG_A}/tokens"),
    ] {
        let answer = Call::get(path.as_str()).bearer(&admin).send(&store).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.error_code(), "not_found");
        assert!(answer.body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn another_method_on_the_route_is_405_with_allow_get() {
    let (store, admin, _) = store_with(0);
    for method in ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        let answer = Call::list(ORG_A, &admin).method(method).send(&store).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("GET"));
        assert_eq!(answer.error_code(), "method_not_allowed");
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_even_without_credentials() {
    let store = MemoryStore::new();
    let answer = Call::get(tokens_path(ORG_A))
        .method("POST")
        .send(&store)
        .await;
    assert_eq!(answer.status, 405);
    assert_eq!(store.calls(), (0, 0, 0));
}

// Parameters

#[tokio::test]
async fn an_uppercase_org_id_is_served_in_canonical_form() {
    let (store, admin, _) = store_with(1);
    let upper = ORG_A.to_string().to_uppercase();
    let answer = Call::get(tokens_path(&upper))
        .bearer(&admin)
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["items"][0]["org_id"], ORG_A.to_string());
}

#[tokio::test]
async fn an_uppercase_cursor_is_accepted() {
    let (store, admin, records) = store_with(4);
    let ids = newest_first(&records);
    let answer = Call::list(ORG_A, &admin)
        .query("cursor", &ids[1].to_uppercase())
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.ids(), ids[2..].to_vec());
}

#[tokio::test]
async fn limits_one_and_one_hundred_are_accepted() {
    let (store, admin, _) = store_with(120);
    for (limit, expected) in [("1", 1), ("100", 100)] {
        let answer = Call::list(ORG_A, &admin)
            .query("limit", limit)
            .send(&store)
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.ids().len(), expected);
    }
}

#[tokio::test]
async fn a_bad_limit_is_400_naming_limit() {
    let (store, admin, _) = store_with(0);
    for bad in [
        "",
        "0",
        "101",
        "-1",
        "+1",
        "1.5",
        "1e2",
        "%201",
        "1%20",
        "abc",
        "99999999999999999999999",
        "%zz",
        "1,2",
    ] {
        let answer = Call::list(ORG_A, &admin)
            .query("limit", bad)
            .send(&store)
            .await;
        assert_eq!(answer.status, 400, "limit={bad}");
        assert_eq!(answer.error_code(), "invalid_request");
        assert_eq!(answer.detail_fields(), ["limit"], "limit={bad}");
    }
}

#[tokio::test]
async fn a_bad_cursor_is_400_naming_cursor() {
    let (store, admin, _) = store_with(0);
    for bad in [
        "",
        "x",
        "019d9103-3600-7ce7-a2cf-1ae045989cf",
        "019d91033600",
        "%zz",
    ] {
        let answer = Call::list(ORG_A, &admin)
            .query("cursor", bad)
            .send(&store)
            .await;
        assert_eq!(answer.status, 400, "cursor={bad}");
        assert_eq!(answer.detail_fields(), ["cursor"], "cursor={bad}");
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_400() {
    let (store, admin, _) = store_with(0);
    let answer = Call::list(ORG_A, &admin)
        .query("limit", "5")
        .query("limit", "5")
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["limit"]);
}

#[tokio::test]
async fn every_bad_field_is_named_in_one_answer() {
    let (store, admin, _) = store_with(0);
    let answer = Call::get(tokens_path("not-a-uuid"))
        .bearer(&admin)
        .query("cursor", "nope")
        .query("limit", "0")
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["orgID", "cursor", "limit"]);
    for detail in answer.body["error"]["details"].as_array().unwrap() {
        assert!(detail["code"].is_string() && detail["message"].is_string());
    }
}

#[tokio::test]
async fn a_bad_org_id_is_400_without_a_store_call() {
    let (store, admin, _) = store_with(0);
    let answer = Call::get(tokens_path("2489e9ad2ee28e008ec932d5f69181c0"))
        .bearer(&admin)
        .send(&store)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.detail_fields(), ["orgID"]);
    assert_eq!(store.calls(), (0, 0, 0));
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let (store, admin, _) = store_with(1);
    let answer = Call::list(ORG_A, &admin)
        .query("expand", "all")
        .send(&store)
        .await;
    assert_eq!(answer.status, 200);
}
