//! The spellings of a path and what routing sees of each.

use super::*;

fn normal(path: &str) -> Result<String, PathError> {
    normalize(path, &PathOptions::default()).map(Cow::into_owned)
}

fn with(options: PathOptions, path: &str) -> Result<String, PathError> {
    normalize(path, &options).map(Cow::into_owned)
}

#[test]
fn a_normal_path_is_borrowed_unchanged() {
    for path in [
        "/",
        "/admin/secret",
        "/a/b/",
        "/a.b/c..d/.e",
        "*",
        "/caf\u{e9}",
    ] {
        let out = normalize(path, &PathOptions::default()).expect("a normal path");
        assert!(matches!(out, Cow::Borrowed(_)), "{path}");
        assert_eq!(out, path);
    }
}

#[test]
fn dot_segments_are_removed_and_never_climb_above_the_root() {
    assert_eq!(
        normal("/public/../admin/secret"),
        Ok("/admin/secret".into())
    );
    assert_eq!(normal("/./admin/./secret"), Ok("/admin/secret".into()));
    assert_eq!(normal("/../../admin"), Ok("/admin".into()));
    assert_eq!(normal("/a/b/.."), Ok("/a/".into()));
    assert_eq!(normal("/a/."), Ok("/a/".into()));
    assert_eq!(normal("/.."), Ok("/".into()));
}

#[test]
fn encoded_dots_are_dot_segments_too() {
    assert_eq!(normal("/public/%2e%2e/admin"), Ok("/admin".into()));
    assert_eq!(normal("/public/%2E%2e/admin"), Ok("/admin".into()));
    assert_eq!(normal("/public/.%2E/admin"), Ok("/admin".into()));
    assert_eq!(normal("/%2e/admin"), Ok("/admin".into()));
}

#[test]
fn unreserved_escapes_are_decoded_and_others_uppercased() {
    assert_eq!(normal("/%61dmin/secret"), Ok("/admin/secret".into()));
    assert_eq!(normal("/%41DMIN/%7euser"), Ok("/ADMIN/~user".into()));
    assert_eq!(normal("/a%20b/%3f%3b"), Ok("/a%20b/%3F%3B".into()));
    // `%25` is a percent sign: it stays encoded, and nothing is decoded twice.
    assert_eq!(normal("/%2561dmin"), Ok("/%2561dmin".into()));
}

#[test]
fn slashes_are_merged_unless_the_listener_keeps_them() {
    assert_eq!(normal("//admin//secret"), Ok("/admin/secret".into()));
    assert_eq!(normal("/admin/secret//"), Ok("/admin/secret/".into()));
    let keep = PathOptions {
        merge_slashes: false,
        ..PathOptions::default()
    };
    assert_eq!(with(keep, "//admin//secret"), Ok("//admin//secret".into()));
    assert!(matches!(
        normalize("//admin", &keep).expect("kept"),
        Cow::Borrowed(_)
    ));
    assert_eq!(with(keep, "/a//../b"), Ok("/a/b".into()));
}

#[test]
fn escaped_slashes_are_refused_by_default_or_kept_or_decoded() {
    for path in [
        "/admin%2fsecret",
        "/admin%2Fsecret",
        "/admin%5csecret",
        "/admin\\secret",
    ] {
        assert_eq!(normal(path), Err(PathError::EscapedSlash), "{path}");
    }
    let keep = PathOptions {
        escaped_slashes: EscapedSlashes::Keep,
        ..PathOptions::default()
    };
    assert_eq!(with(keep, "/a%2fb/..%2F"), Ok("/a%2Fb/..%2F".into()));
    assert_eq!(with(keep, "/a\\b"), Ok("/a%5Cb".into()));
    let decode = PathOptions {
        escaped_slashes: EscapedSlashes::Decode,
        ..PathOptions::default()
    };
    assert_eq!(with(decode, "/public%2f..%2fadmin"), Ok("/admin".into()));
    assert_eq!(with(decode, "/public\\..\\admin"), Ok("/admin".into()));
}

#[test]
fn semicolons_are_refused_by_default_or_kept() {
    assert_eq!(normal("/admin;x/secret"), Err(PathError::Semicolon));
    assert_eq!(normal("/public/..;/admin"), Err(PathError::Semicolon));
    let keep = PathOptions {
        semicolons: Semicolons::Keep,
        ..PathOptions::default()
    };
    assert_eq!(with(keep, "/a;v=1/b"), Ok("/a;v=1/b".into()));
    // An encoded `;` is data, not a parameter: it stays encoded either way.
    assert_eq!(normal("/a%3bv"), Ok("/a%3Bv".into()));
}

#[test]
fn broken_escapes_and_relative_paths_are_refused() {
    assert_eq!(normal("/a%"), Err(PathError::InvalidEscape));
    assert_eq!(normal("/a%2"), Err(PathError::InvalidEscape));
    assert_eq!(normal("/a%zz"), Err(PathError::InvalidEscape));
    assert_eq!(normal("admin"), Err(PathError::NotAbsolute));
    assert_eq!(normal(""), Err(PathError::NotAbsolute));
}

#[test]
fn non_ascii_text_passes_through() {
    assert_eq!(normal("/caf\u{e9}/../men\u{fc}"), Ok("/men\u{fc}".into()));
}

#[test]
fn normalising_twice_changes_nothing() {
    for path in [
        "/public/../admin",
        "//a/%2e%2E/b%20c/",
        "/%7E/./x/..",
        "/a/%3f",
    ] {
        let once = normal(path).expect("normal");
        assert_eq!(normal(&once), Ok(once.clone()), "{path}");
    }
}
