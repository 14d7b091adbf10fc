//! The all-in-one opens its embedded defaults, keeps them across a restart, and says
//! clearly when it cannot.

use moclojer_cloud::{App, Config};
use moclojer_ports::ObjectKey;
use moclojer_wiring::{App as _, Resolver};

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        api_addr: "127.0.0.1:0".parse().expect("addr"),
        mocks_addr: "127.0.0.1:0".parse().expect("addr"),
        ..Config::new(dir.path().join("data"))
    };
    let email = moclojer_domain_email();
    {
        let resolver = Resolver::default();
        let app = App::build(config.clone(), &resolver)
            .await
            .expect("first start");
        let user = moclojer_ports_user(&email);
        app.ports()
            .accounts
            .create_user(&user, None)
            .await
            .expect("create user");
        let key = ObjectKey::parse("moclojer.yml").expect("key");
        app.store()
            .put(&key, "- endpoint: {path: /x}".into())
            .await
            .expect("put");
        resolver.close().await;
    }
    let app = App::build(config, &Resolver::default())
        .await
        .expect("second start");
    let found = app
        .ports()
        .accounts
        .find_user_by_email(&email)
        .await
        .expect("the user is still there");
    assert_eq!(found.user.email, email);
    let key = ObjectKey::parse("moclojer.yml").expect("key");
    assert!(
        app.store().get(&key).await.is_ok(),
        "the stored object is still there"
    );
    assert!(app.data_dir().join("moclojer.sqlite").is_file());
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let err = App::build(
        Config {
            api_addr: "127.0.0.1:0".parse().expect("addr"),
            mocks_addr: "127.0.0.1:0".parse().expect("addr"),
            ..Config::new(file.clone())
        },
        &Resolver::default(),
    )
    .await
    .expect_err("a file is no data directory");
    assert!(
        format!("{err:#}").contains(&file.display().to_string()),
        "the error names the path: {err:#}"
    );
}

fn moclojer_domain_email() -> moclojer_domain::Email {
    moclojer_domain::Email::parse("restart@example.com").expect("email")
}

fn moclojer_ports_user(email: &moclojer_domain::Email) -> moclojer_domain::User {
    moclojer_domain::User::new(
        moclojer_domain::UserId::from_uuid(uuid::Uuid::from_u128(42)),
        email.clone(),
        moclojer_domain::Timestamp::from_unix_millis(0),
    )
}
