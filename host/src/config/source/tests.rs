//! The etcd URL as `--config` takes it, and what each mistake in one is told.

use super::*;

#[test]
fn a_path_is_a_file_source() {
    assert_eq!(
        ConfigSource::parse("examples/quickstart/portcullis.toml"),
        Ok(ConfigSource::File(
            "examples/quickstart/portcullis.toml".into()
        ))
    );
}

#[test]
fn an_etcd_url_names_the_members_and_the_manifest_key_under_the_prefix() {
    let ConfigSource::Etcd(etcd) =
        ConfigSource::parse("etcd://127.0.0.1:2379/portcullis").expect("a valid URL")
    else {
        panic!("not etcd");
    };
    assert_eq!(etcd.endpoints, ["127.0.0.1:2379"]);
    assert_eq!(etcd.prefix, "/portcullis");
    assert_eq!(etcd.manifest_key(), "/portcullis/manifest");
    assert_eq!(etcd.manifest_name(), "etcd:/portcullis/manifest");
    assert_eq!(etcd.client_endpoints(), ["http://127.0.0.1:2379"]);
}

#[test]
fn several_members_are_separated_by_commas_and_a_trailing_slash_is_dropped() {
    let etcd = EtcdSource::parse("etcd://10.0.0.1:2379,etcd-2.internal:2379/fleets/eu/")
        .expect("a valid URL");
    assert_eq!(etcd.endpoints, ["10.0.0.1:2379", "etcd-2.internal:2379"]);
    assert_eq!(etcd.manifest_key(), "/fleets/eu/manifest");
    assert_eq!(
        etcd.url(),
        "etcd://10.0.0.1:2379,etcd-2.internal:2379/fleets/eu"
    );
}

#[test]
fn tls_makes_the_client_use_https() {
    let mut etcd = EtcdSource::parse("etcd://127.0.0.1:2379/p").expect("a valid URL");
    etcd.tls = Some(EtcdTls::default());
    assert_eq!(etcd.client_endpoints(), ["https://127.0.0.1:2379"]);
}

#[test]
fn malformed_urls_are_refused_with_the_reason() {
    let cases = [
        ("etcd://127.0.0.1:2379", "no prefix"),
        ("etcd://127.0.0.1:2379/", "the prefix is empty"),
        ("etcd://127.0.0.1/portcullis", "needs a port"),
        (
            "etcd://127.0.0.1:0/portcullis",
            "not a number from 1 to 65535",
        ),
        ("etcd://127.0.0.1:2379,/portcullis", "needs a port"),
        ("etcd://root:secret@127.0.0.1:2379/p", "--etcd-user"),
    ];
    for (given, reason) in cases {
        let error = ConfigSource::parse(given).expect_err(given).to_string();
        assert!(error.contains(reason), "{given}: {error}");
        assert!(
            error.contains("etcd://HOST:PORT/PREFIX"),
            "{given}: {error}"
        );
    }
}

#[test]
fn the_password_stays_out_of_debug_output() {
    let mut etcd = EtcdSource::parse("etcd://127.0.0.1:2379/p").expect("a valid URL");
    etcd.user = Some(("gateway".into(), "s3cret".into()));
    let shown = format!("{etcd:?}");
    assert!(
        shown.contains("gateway") && !shown.contains("s3cret"),
        "{shown}"
    );
}
