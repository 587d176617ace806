use super::*;

fn plugin(json: &str) -> Result<IpRestriction, Error> {
    IpRestriction::new(serde_json::from_str(json).map_err(Error::from)?)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn forwarded(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn cidrs_match_ipv4_and_ipv6_networks_and_single_hosts() {
    let net = Cidr::parse("allow", "10.0.0.0/8").unwrap();
    assert!(net.contains(ip("10.255.0.1")));
    assert!(!net.contains(ip("11.0.0.1")));
    assert!(
        net.contains(ip("::ffff:10.1.2.3")),
        "an IPv4-mapped address is the IPv4 address"
    );
    let v6 = Cidr::parse("allow", "2001:db8::/32").unwrap();
    assert!(v6.contains(ip("2001:db8:1::7")));
    assert!(!v6.contains(ip("2001:db9::1")));
    assert!(!v6.contains(ip("10.0.0.1")));
    let host = Cidr::parse("deny", "192.0.2.7").unwrap();
    assert!(host.contains(ip("192.0.2.7")));
    assert!(!host.contains(ip("192.0.2.8")));
    let all = Cidr::parse("allow", "0.0.0.0/0").unwrap();
    assert!(all.contains(ip("203.0.113.1")));
    assert!(Cidr::parse("allow", "::/0").unwrap().contains(ip("::1")));
}

#[test]
fn bad_networks_are_config_errors_naming_list_and_entry() {
    let error = plugin(r#"{"allow": ["10.0.0.1/8"]}"#).err().unwrap();
    assert!(
        error.message().contains("did you mean `10.0.0.0/8`"),
        "{error}"
    );
    for bad in [
        "10.0.0.0/33",
        "2001:db8::/129",
        "ten",
        "10.0.0/8",
        "10.0.0.0/",
    ] {
        let error = plugin(&format!(r#"{{"deny": ["{bad}"]}}"#)).err().unwrap();
        assert!(
            error.message().contains(&format!("`deny` entry `{bad}`")),
            "{error}"
        );
    }
    let error = plugin(r#"{"deny": ["10.0.0.0/8"], "trusted-proxies": ["x"]}"#)
        .err()
        .unwrap();
    assert!(error.message().contains("`trusted-proxies`"), "{error}");
}

#[test]
fn a_config_that_restricts_nothing_is_refused() {
    assert!(plugin("{}").is_err());
    assert!(plugin(r#"{"trusted-proxies": ["10.0.0.0/8"]}"#).is_err());
    let error = plugin(r#"{"alow": []}"#).err().unwrap();
    assert!(error.message().contains("unknown field `alow`"), "{error}");
}

#[test]
fn deny_wins_over_allow() {
    let p = plugin(r#"{"allow": ["10.0.0.0/8"], "deny": ["10.6.0.0/16"]}"#).unwrap();
    assert!(p.allows(ip("10.1.0.1")));
    assert!(!p.allows(ip("10.6.0.1")));
    assert!(!p.allows(ip("192.0.2.1")), "not on the allow list");
    let deny_only = plugin(r#"{"deny": ["192.0.2.0/24"]}"#).unwrap();
    assert!(deny_only.allows(ip("198.51.100.1")));
    assert!(!deny_only.allows(ip("192.0.2.9")));
}

#[test]
fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let p = plugin(r#"{"allow": ["10.0.0.0/8"], "trusted-proxies": ["172.16.0.0/12"]}"#).unwrap();
    assert_eq!(
        p.client_ip("203.0.113.5", &forwarded(&["10.0.0.1"])),
        Ok(ip("203.0.113.5")),
        "a client may not choose its address"
    );
    let untrusting = plugin(r#"{"allow": ["10.0.0.0/8"]}"#).unwrap();
    assert_eq!(
        untrusting.client_ip("172.16.0.1", &forwarded(&["10.0.0.1"])),
        Ok(ip("172.16.0.1"))
    );
}

#[test]
fn behind_trusted_proxies_the_rightmost_untrusted_entry_is_the_client() {
    let p = plugin(r#"{"allow": ["10.0.0.0/8"], "trusted-proxies": ["172.16.0.0/12"]}"#).unwrap();
    // The client forged `10.0.0.1`; the first proxy appended the real address it saw.
    assert_eq!(
        p.client_ip(
            "172.16.0.2",
            &forwarded(&["10.0.0.1, 198.51.100.4", "172.16.0.9"])
        ),
        Ok(ip("198.51.100.4"))
    );
    assert_eq!(
        p.client_ip("172.16.0.2", &forwarded(&["172.16.0.3, 172.16.0.9"])),
        Ok(ip("172.16.0.3")),
        "all trusted: the leftmost"
    );
    assert_eq!(
        p.client_ip("172.16.0.2", &[]),
        Ok(ip("172.16.0.2")),
        "no header: the proxy itself"
    );
    assert_eq!(
        p.client_ip(
            "172.16.0.2",
            &forwarded(&["[2001:db8::1]:4000", "198.51.100.4:80"])
        ),
        Ok(ip("198.51.100.4"))
    );
    assert_eq!(
        p.client_ip("172.16.0.2", &forwarded(&["nonsense, 172.16.0.4"])),
        Err(Unresolved::Forwarded("nonsense".into()))
    );
    assert_eq!(
        p.client_ip("172.16.0.2", &forwarded(&["nonsense, 198.51.100.4"])),
        Ok(ip("198.51.100.4")),
        "garbage left of the client is not read"
    );
}
