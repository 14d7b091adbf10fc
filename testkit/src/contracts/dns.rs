//! The `DnsProvider` and `PaasProvider` contracts.

use std::sync::Arc;

use moclojer_ports::{DnsProvider, DnsRecord, PaasProvider, PortErrorKind::*, RecordKind};

use crate::{expect_kind, unique_suffix};

fn cname(name: &str, target: &str) -> DnsRecord {
    DnsRecord {
        name: name.to_owned(),
        kind: RecordKind::Cname,
        content: target.to_owned(),
        proxied: true,
        ttl: 300,
    }
}

/// Runs every rule of `DnsProvider` against `dns`, whose zone is `zone`. Before the call
/// the zone must hold a record named `foreign_name` that is not ours (planted as a person
/// would, through the provider's own means).
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn dns_provider_contract(dns: Arc<dyn DnsProvider>, zone: &str, foreign_name: &str) {
    let host = format!("m{}-contract.{zone}", unique_suffix());
    let record = cname(&host, "app.example.net");

    let created = dns.ensure_record(&record).await.expect("create a record");
    assert!(created.ours, "a record we make is ours");
    assert_eq!(created.record, record, "the record is stored as asked");
    let again = dns.ensure_record(&record).await.expect("ensure again");
    assert_eq!(again.id, created.id, "ensuring twice keeps one record");
    let listed = dns.list_records().await.expect("list");
    assert_eq!(
        listed.iter().filter(|r| r.record.name == host).count(),
        1,
        "exactly one record for the host"
    );
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].record.name <= w[1].record.name),
        "records are listed by name"
    );

    let moved = cname(&host, "other.example.net");
    let updated = dns.ensure_record(&moved).await.expect("update");
    assert_eq!(updated.id, created.id, "an update keeps the record");
    let listed = dns.list_records().await.expect("list");
    let mine: Vec<_> = listed.iter().filter(|r| r.record.name == host).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        mine[0].record.content, "other.example.net",
        "the update is stored"
    );

    expect_kind(
        dns.ensure_record(&cname("Not A Name", "x.example.net"))
            .await,
        Invalid,
        "a bad record name",
    );
    expect_kind(
        dns.ensure_record(&cname(foreign_name, "x.example.net"))
            .await,
        Conflict,
        "taking over a record not ours",
    );
    let foreign = listed
        .iter()
        .find(|r| r.record.name == foreign_name)
        .expect("the planted foreign record is listed");
    assert!(!foreign.ours, "a record we did not make is not ours");
    expect_kind(
        dns.delete_record(&foreign.id).await,
        Conflict,
        "deleting a record not ours",
    );
    assert!(
        dns.list_records()
            .await
            .expect("list")
            .iter()
            .any(|r| r.id == foreign.id),
        "a foreign record survives"
    );

    dns.delete_record(&created.id).await.expect("delete ours");
    assert!(
        !dns.list_records()
            .await
            .expect("list")
            .iter()
            .any(|r| r.record.name == host),
        "a deleted record is gone"
    );
    dns.delete_record(&created.id)
        .await
        .expect("deleting twice succeeds");
}

/// Runs every rule of `PaasProvider` against `paas`.
///
/// # Panics
/// At the first rule the implementation breaks.
pub async fn paas_provider_contract(paas: Arc<dyn PaasProvider>) {
    let suffix = unique_suffix();
    let host = format!("m{suffix}-contract.moclojer.test");
    let wildcard = format!("*.w{suffix}.moclojer.test");

    paas.add_domain(&host).await.expect("add");
    paas.add_domain(&host).await.expect("adding twice succeeds");
    paas.add_domain(&wildcard).await.expect("add a wildcard");
    let domains = paas.list_domains().await.expect("list");
    assert_eq!(
        domains.iter().filter(|d| **d == host).count(),
        1,
        "a domain is listed once"
    );
    assert!(domains.contains(&wildcard), "wildcards are kept");
    assert!(
        domains.windows(2).all(|w| w[0] <= w[1]),
        "domains are sorted"
    );

    expect_kind(
        paas.add_domain("not a domain").await,
        Invalid,
        "adding a bad name",
    );
    expect_kind(paas.remove_domain("").await, Invalid, "removing a bad name");

    paas.remove_domain(&host).await.expect("remove");
    paas.remove_domain(&host)
        .await
        .expect("removing twice succeeds");
    paas.remove_domain(&wildcard)
        .await
        .expect("remove the wildcard");
    let domains = paas.list_domains().await.expect("list");
    assert!(
        !domains.contains(&host) && !domains.contains(&wildcard),
        "removed domains are gone"
    );
}
