//! The access log as specifications: times in UTC, the common and JSON line formats, and a
//! command-line flag winning over the `[access-log]` table for its own setting only.

use super::*;

#[test]
fn times_are_written_in_utc() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_892_692_123);
    assert_eq!(rfc3339(time), "2026-11-28T19:04:52.123Z");
    assert_eq!(clf_time(time), "28/Nov/2026:19:04:52 +0000");
    assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
    assert_eq!(clf_time(leap), "29/Feb/2000:00:00:00 +0000");
}

fn entry() -> Entry {
    let mut context = Context::default();
    context.set("consumer".into(), "alice".into());
    Entry {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_892_692),
        request_id: "r-1".into(),
        trace_id: [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ],
        client: "10.0.0.7".parse().unwrap(),
        method: http::Method::GET,
        path: "/orders/42".into(),
        version: http::Version::HTTP_11,
        route: Some("orders".into()),
        upstream: None,
        status: 200,
        bytes: 512,
        bytes_received: 0,
        aborted: false,
        duration: Duration::from_micros(3182),
        upstream_duration: None,
        plugin_duration: Duration::from_micros(311),
        context,
        versions: Default::default(),
    }
}

#[test]
fn a_common_line_is_the_common_log_format_then_fields() {
    assert_eq!(
        entry().to_common(),
        "10.0.0.7 - - [28/Nov/2026:19:04:52 +0000] \"GET /orders/42 HTTP/1.1\" 200 512 \
         request_id=r-1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 route=orders upstream=- \
         target=- duration_ms=3.182 upstream_ms=- plugins_ms=0.311 bytes_received=0 \
         consumer=\"alice\""
    );
}

#[test]
fn a_flag_given_on_the_command_line_wins_over_the_table_for_its_setting_only() {
    use crate::config::{AccessLogConfig, AccessLogDestination, AccessLogFormat};
    let table = AccessLogConfig {
        destination: Some(AccessLogDestination::File("/srv/access.log".into())),
        format: Some(AccessLogFormat::Common),
        context: Some(vec!["consumer".into()]),
    };
    let flags = Overrides {
        destination: Some(Destination::Stdout),
        format: None,
    };
    assert_eq!(
        Settings::resolve(&flags, &table),
        Settings {
            destination: Destination::Stdout,
            format: Format::Common,
            context: Some(vec!["consumer".into()]),
        }
    );
    let none = Settings::resolve(&Overrides::default(), &AccessLogConfig::default());
    assert_eq!(
        (none.destination, none.format, none.context),
        (Destination::Log, Format::Json, None)
    );
}

#[test]
fn a_json_line_has_every_field() {
    let json = entry().to_json();
    assert_eq!(json["time"], "2026-11-28T19:04:52.000Z");
    assert_eq!(json["protocol"], "HTTP/1.1");
    assert_eq!(json["route"], "orders");
    assert_eq!(json["upstream"], serde_json::Value::Null);
    assert_eq!(json["bytes"], 512);
    assert_eq!(json["context"]["consumer"], "alice");
}
