//! Raw Lambda event bytes in, a response out: the whole request path, from JSON to the answer,
//! over the demo data in the in-memory store.
#![no_main]

use std::sync::OnceLock;

use api_tokens::demo::DEMO_TOKENS;
use api_tokens::gateway::function;
use api_tokens::memory::MemoryStore;
use lambda_http::{Context, LambdaEvent};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn store() -> &'static MemoryStore {
    static STORE: OnceLock<MemoryStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = MemoryStore::new();
        for demo in DEMO_TOKENS {
            store.insert(demo.record());
        }
        store
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(
    init: {
        // libfuzzer-sys aborts on every panic, caught or not. The function deliberately catches
        // the panics of lambda_http's request conversion, so only uncaught ones may count here:
        // those still reach libfuzzer-sys's own catch_unwind, which aborts.
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
        // The Lambda runtime hands the function parsed JSON; anything else never reaches it.
        let Ok(event) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let response = runtime()
            .block_on(function(store(), LambdaEvent::new(event, Context::default())))
            .expect("the function never fails");
        let response = serde_json::to_value(response).expect("a serializable response");
        let status = response["statusCode"].as_u64().expect("a status");
        assert!([200, 400, 401, 403, 404, 405].contains(&status), "status {status}");
        let text = response["body"].as_str().expect("a text body");
        let body: Value = serde_json::from_str(text).expect("a JSON body");
        if status != 200 {
            assert!(body["error"]["code"].is_string(), "not the envelope: {text}");
        }
        assert!(!text.contains("secret_hash"));
    }
);
