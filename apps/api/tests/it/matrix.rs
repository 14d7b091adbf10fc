//! Who may do what: every mutating route (11) × {owner, org member, other user, no token,
//! expired token, forged token} → the expected status; when refused, the database is
//! exactly as it was.

use moclojer_domain::{Mock, Publication, UserId, Workspace};
use moclojer_ports::{
    AccountRepository, Clock, MockRepository, Outbox, PublicationRepository, Scope, SystemClock,
    TokenDigest, TokenId, TokenKind, TokenRecord, TokenStore,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Account, Api, HELLO};

/// One world per cell: a fresh api where alice owns the org `acme`, bob and dave are its
/// members, carol is a stranger, and `acme` has the mock `shop`.
struct World {
    api: Api,
    alice: Account,
    bob: Account,
    carol: Account,
    mock_id: String,
    alice_token_id: String,
    expired: String,
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    workspaces: Vec<Workspace>,
    mocks: Vec<Mock>,
    publications: Vec<Publication>,
    outbox: usize,
    alice_tokens: usize,
}

impl World {
    async fn new() -> Self {
        let api = Api::start().await;
        let alice = api.account("alice").await;
        let bob = api.account("bob").await;
        let carol = api.account("carol").await;
        let _dave = api.account("dave").await;
        let owner = Some(alice.token.as_str());
        assert_eq!(
            api.post("/api/v1/orgs", owner, json!({"handle": "acme"}))
                .await
                .0,
            201
        );
        for member in ["bob", "dave"] {
            assert_eq!(
                api.post(
                    "/api/v1/orgs/acme/members",
                    owner,
                    json!({"handle": member})
                )
                .await
                .0,
                201
            );
        }
        let mock = api.mock(&alice, "acme", "shop").await;
        let publish = format!("/api/v1/mocks/{}/publish", mock["id"].as_str().expect("id"));
        assert_eq!(api.call(Method::POST, &publish, owner, None).await.0, 200);
        let (status, token) = api
            .post("/api/v1/tokens", owner, json!({"name": "ci"}))
            .await;
        assert_eq!(status, 201);
        // A token that expired an hour ago, stored as the service stores tokens.
        let expired = format!("mcj_{}", "ab".repeat(32));
        let now = SystemClock.now();
        let user = UserId::parse(&alice.id).expect("id");
        api.database
            .insert_token(&TokenRecord {
                id: TokenId::from_uuid(uuid::Uuid::now_v7()),
                user_id: user,
                kind: TokenKind::Session,
                name: String::new(),
                digest: TokenDigest::of(&expired),
                created_at: now.plus_millis(-7_200_000),
                expires_at: Some(now.plus_millis(-3_600_000)),
            })
            .await
            .expect("insert the expired token");
        Self {
            mock_id: mock["id"].as_str().expect("id").to_owned(),
            alice_token_id: token["id"].as_str().expect("id").to_owned(),
            api,
            alice,
            bob,
            carol,
            expired,
        }
    }

    async fn snapshot(&self) -> Snapshot {
        let db = &self.api.database;
        let alice = UserId::parse(&self.alice.id).expect("id");
        Snapshot {
            workspaces: db
                .list_workspaces(&Scope::System)
                .await
                .expect("workspaces"),
            mocks: MockRepository::list(db, &Scope::System)
                .await
                .expect("mocks"),
            publications: PublicationRepository::list(db, &Scope::System)
                .await
                .expect("publications"),
            outbox: db.pending(100_000).await.expect("outbox").len(),
            alice_tokens: db
                .list_tokens(alice, TokenKind::Personal)
                .await
                .expect("tokens")
                .len(),
        }
    }

    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Owner => Some(self.alice.token.clone()),
            Who::Member => Some(self.bob.token.clone()),
            Who::Other => Some(self.carol.token.clone()),
            Who::Nobody => None,
            Who::Expired => Some(self.expired.clone()),
            // One character off alice's real token.
            Who::Forged => {
                let mut forged = self.alice.token.clone();
                let last = if forged.ends_with('0') { '1' } else { '0' };
                forged.pop();
                forged.push(last);
                Some(forged)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Member,
    Other,
    Nobody,
    Expired,
    Forged,
}

const EVERYONE: [Who; 6] = [
    Who::Owner,
    Who::Member,
    Who::Other,
    Who::Nobody,
    Who::Expired,
    Who::Forged,
];

struct Route {
    name: &'static str,
    method: Method,
    path: fn(&World) -> String,
    body: fn(&World) -> Option<Value>,
    /// Owner, member, other user; the three bad tokens always get 401.
    expect: [u16; 3],
}

fn routes() -> Vec<Route> {
    vec![
        Route {
            name: "create a mock in the org",
            method: Method::POST,
            path: |_| "/api/v1/mocks".to_owned(),
            body: |_| Some(json!({"workspace": "acme", "name": "new"})),
            expect: [201, 201, 404],
        },
        Route {
            name: "edit the mock",
            method: Method::PUT,
            path: |w| format!("/api/v1/mocks/{}", w.mock_id),
            body: |_| Some(json!({"content": HELLO})),
            expect: [200, 200, 404],
        },
        Route {
            name: "publish the mock",
            method: Method::POST,
            path: |w| format!("/api/v1/mocks/{}/publish", w.mock_id),
            body: |_| None,
            expect: [200, 200, 404],
        },
        Route {
            name: "unpublish the mock",
            method: Method::POST,
            path: |w| format!("/api/v1/mocks/{}/unpublish", w.mock_id),
            body: |_| None,
            expect: [200, 200, 404],
        },
        Route {
            name: "delete the mock",
            method: Method::DELETE,
            path: |w| format!("/api/v1/mocks/{}", w.mock_id),
            body: |_| None,
            expect: [204, 204, 404],
        },
        Route {
            name: "rename the org",
            method: Method::PUT,
            path: |_| "/api/v1/orgs/acme".to_owned(),
            body: |_| Some(json!({"name": "Renamed"})),
            expect: [200, 403, 404],
        },
        Route {
            name: "delete the org",
            method: Method::DELETE,
            path: |_| "/api/v1/orgs/acme".to_owned(),
            body: |_| None,
            expect: [204, 403, 404],
        },
        Route {
            name: "add a member",
            method: Method::POST,
            path: |_| "/api/v1/orgs/acme/members".to_owned(),
            body: |_| Some(json!({"email": "carol@example.com"})),
            expect: [201, 403, 404],
        },
        Route {
            name: "remove another member",
            method: Method::DELETE,
            path: |_| "/api/v1/orgs/acme/members/dave".to_owned(),
            body: |_| None,
            expect: [204, 403, 404],
        },
        Route {
            name: "make a member an owner",
            method: Method::PUT,
            path: |_| "/api/v1/orgs/acme/members/dave".to_owned(),
            body: |_| Some(json!({"role": "owner"})),
            expect: [200, 403, 404],
        },
        Route {
            name: "revoke alice's API token",
            method: Method::DELETE,
            path: |w| format!("/api/v1/tokens/{}", w.alice_token_id),
            body: |_| None,
            expect: [204, 404, 404],
        },
    ]
}

#[tokio::test]
async fn every_mutating_route_by_every_caller() {
    let mut cells = 0;
    let mut failures = Vec::new();
    for route in routes() {
        for who in EVERYONE {
            let world = World::new().await;
            let expected = match who {
                Who::Owner => route.expect[0],
                Who::Member => route.expect[1],
                Who::Other => route.expect[2],
                Who::Nobody | Who::Expired | Who::Forged => 401,
            };
            let before = world.snapshot().await;
            let token = world.token(who);
            let (status, body) = world
                .api
                .call(
                    route.method.clone(),
                    &(route.path)(&world),
                    token.as_deref(),
                    (route.body)(&world),
                )
                .await;
            cells += 1;
            if status != expected {
                failures.push(format!(
                    "{} by {who:?}: expected {expected}, got {status} {body}",
                    route.name
                ));
                continue;
            }
            let after = world.snapshot().await;
            if status >= 400 {
                assert!(
                    body["error"]["code"].is_string(),
                    "{} by {who:?}: an envelope, got {body}",
                    route.name
                );
                if before != after {
                    failures.push(format!(
                        "{} by {who:?}: refused with {status} but the database changed",
                        route.name
                    ));
                }
            } else if before == after {
                failures.push(format!(
                    "{} by {who:?}: allowed with {status} but nothing changed",
                    route.name
                ));
            }
        }
    }
    assert_eq!(cells, 66);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
