//! Property tests through the public library: token parsing, durations, times and path
//! matching never panic on any input, and round-trip what keyctl itself produces.

use keyctl::paths::{allows, validate_prefix};
use keyctl::time::{MAX_TIMESTAMP, Timestamp, parse_duration, parse_time};
use keyctl::token::{self, Parsed};
use proptest::prelude::*;

/// Strings near the token shape: the token alphabet plus a few bytes that must break it.
fn tokenish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9]{0,17}_[A-Za-z0-9]{0,25}_[A-Za-z0-9]{0,60}",
        "[A-Za-z0-9_ \\-\u{0}\u{1b}é]{0,130}",
    ]
}

/// Request paths built from segments, including dot, encoded and control segments.
fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{0,8}",
        "%[0-9A-Fa-f]{2}",
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("%2e".to_owned()),
        Just("%2f".to_owned()),
        any::<String>(),
    ]
}

fn any_path() -> impl Strategy<Value = String> {
    prop::collection::vec(path_segment(), 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
}

/// Spellings of a dot segment, raw and percent-encoded in any case.
fn dot_segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2E", "%2e%2E", ".%2e", "%2e.", ".%2E", "%2E.",
    ])
}

/// A valid prefix path: segments of characters that need no encoding (no `?` or `#`).
fn plain_prefix() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,7}", 0..5)
        .prop_map(|segs| format!("/{}", segs.join("/")))
}

/// Segments every back end reads as an ordinary name: dots, escapes and non-ASCII letters
/// inside a name, three dots, a decoded ASCII letter.
fn safe_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,7}",
        prop::sample::select(vec![
            "a%2eb",
            "...x",
            "...",
            "ap%69",
            "caf%C3%A9",
            "caf\u{e9}",
            "a\u{FF0E}b",
            "\u{2026}",
            "\u{FF41}\u{FF42}",
            "v1.json",
            "a%20b",
            "%41",
            "..x",
            "x..",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Segments some back end reads as `.` or `..`, or as more than a name: dot segments in any
/// spelling (possibly with invisible characters between the dots and `;params` after them),
/// and names with a `;`, a second escape, `%u`, overlong or invalid UTF-8, or a look-alike of a
/// delimiter.
fn dangerous_segment() -> impl Strategy<Value = String> {
    let dot = prop::sample::select(vec![
        ".",
        "%2e",
        "%2E",
        "\u{FF0E}",
        "%EF%BC%8E",
        "%ef%bc%8e",
        "\u{2024}",
        "%E2%80%A4",
        "\u{FE52}",
        "\u{FF61}",
        "%EF%BD%A1",
        "\u{3002}",
        "%252e",
        "%252E",
        "%c0%ae",
        "%C0%AE",
        "%e0%80%ae",
        "%u002e",
        "%U002E",
        "%%32%65",
    ]);
    let invisible = prop::sample::select(vec!["", "", "\u{AD}", "%C2%AD", "\u{200B}", "\u{FEFF}"]);
    let dots = prop_oneof![
        (dot.clone(), invisible, dot.clone()).prop_map(|(a, i, b)| format!("{a}{i}{b}")),
        dot.prop_map(str::to_owned),
        prop::sample::select(vec!["\u{2025}", "%E2%80%A5", "%e2%80%a5", "\u{FE30}"])
            .prop_map(str::to_owned),
    ];
    let params = prop::sample::select(vec![
        "",
        "",
        ";",
        ";jsessionid=x",
        ";a=1;b",
        "%3b",
        "%3B",
        "\u{FF1B}",
        "\u{037E}",
    ]);
    let bad = prop::sample::select(vec![
        ";", "%3b", "%25", "%2525", "%252f", "%255c", "%u0041", "%u2215", "%c0%ae", "%c0%af",
        "%ff", "%80", "\u{FF0F}", "\u{FF3C}", "\u{FF1B}", "\u{FF05}", "%3f", "%23", "%",
        "\u{2100}",
    ]);
    prop_oneof![
        (dots, params).prop_map(|(d, p)| format!("{d}{p}")),
        ("[a-z]{0,4}", bad, "[a-z]{0,4}").prop_map(|(a, b, c)| format!("{a}{b}{c}")),
    ]
}

const UNITS: [(char, i64); 6] = [
    ('s', 1),
    ('m', 60),
    ('h', 3600),
    ('d', 86_400),
    ('w', 7 * 86_400),
    ('y', 365 * 86_400),
];

proptest! {
    #[test]
    fn token_parse_never_panics(s in tokenish()) {
        if let Some(p) = token::parse(&s) {
            // Whatever parses has the documented shape.
            prop_assert!(token::valid_prefix(p.prefix) && token::valid_id(p.id));
            prop_assert!(s.len() <= token::MAX_TOKEN_LEN);
        }
    }

    #[test]
    fn generated_tokens_round_trip(prefix in "[a-z0-9]{1,16}", id in "[A-Za-z0-9]{8,24}") {
        let issued = token::generate(&prefix.parse().unwrap(), &id.parse().unwrap()).unwrap();
        let t = issued.reveal();
        prop_assert_eq!(token::parse(t), Some(Parsed { prefix: &prefix, id: &id }));
        prop_assert!(t.len() <= token::MAX_TOKEN_LEN);
        prop_assert!(issued.digest().matches(&token::Digest::of(t).0));
    }

    #[test]
    fn any_single_character_change_truncation_or_extension_is_malformed(
        prefix in "[a-z0-9]{1,16}",
        id in "[A-Za-z0-9]{8,24}",
        at in any::<prop::sample::Index>(),
        to in "[A-Za-z0-9_]",
        cut in 1usize..20,
        extra in "[A-Za-z0-9_]{1,3}",
    ) {
        let t = token::generate(&prefix.parse().unwrap(), &id.parse().unwrap())
            .unwrap()
            .reveal()
            .to_owned();
        let i = at.index(t.len());
        let mut changed = t.clone().into_bytes();
        changed[i] = to.as_bytes()[0];
        if changed != t.as_bytes() {
            let changed = String::from_utf8(changed).unwrap();
            prop_assert_eq!(token::parse(&changed), None, "{} -> {}", t, changed);
        }
        prop_assert_eq!(token::parse(&t[..t.len() - cut.min(t.len())]), None);
        let extended = format!("{t}{extra}");
        prop_assert_eq!(token::parse(&extended), None);
    }

    #[test]
    fn duration_parse_never_panics(s in any::<String>()) {
        if let Ok(secs) = parse_duration(&s) {
            prop_assert!(secs > 0 && secs <= MAX_TIMESTAMP);
        }
    }

    #[test]
    fn durations_in_every_unit_multiply_exactly(n in 1i64..1_000_000, unit in 0usize..6) {
        let (u, mult) = UNITS[unit];
        let text = format!("{n}{u}");
        if n * mult <= MAX_TIMESTAMP {
            prop_assert_eq!(parse_duration(&text), Ok(n * mult));
        } else {
            // Longer than any expiry keyctl can store (the end of year 9999).
            let err = parse_duration(&text).unwrap_err();
            prop_assert!(err.contains("too large"), "{}", err);
        }
        if u == 's' {
            prop_assert_eq!(parse_duration(&n.to_string()), Ok(n));
        }
        let negative = format!("-{n}{u}");
        let fractional = format!("{n}.5{u}");
        prop_assert!(parse_duration(&negative).is_err(), "{}", negative);
        prop_assert!(parse_duration(&fractional).is_err(), "{}", fractional);
    }

    #[test]
    fn time_parse_never_panics(s in any::<String>()) {
        if let Ok(t) = parse_time(&s) {
            prop_assert!((0..=MAX_TIMESTAMP).contains(&t.0));
        }
    }

    #[test]
    fn timestamps_print_as_rfc3339_that_parses_back(secs in 0..=MAX_TIMESTAMP) {
        let t = Timestamp(secs);
        let text = t.to_string();
        prop_assert_eq!(text.len(), 20, "{}", text);
        prop_assert!(text.ends_with('Z'));
        prop_assert_eq!(parse_time(&text), Ok(t));
        // The date alone is midnight UTC of that day.
        prop_assert_eq!(parse_time(&text[..10]), Ok(Timestamp(secs - secs.rem_euclid(86_400))));
    }

    #[test]
    fn the_same_instant_with_any_offset_parses_to_the_same_time(
        secs in 86_400..=MAX_TIMESTAMP - 86_400,
        offset_min in -(23 * 60 + 59)..=(23 * 60 + 59),
    ) {
        let offset = chrono::FixedOffset::east_opt(offset_min * 60).unwrap();
        let text = chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .with_timezone(&offset)
            .to_rfc3339();
        prop_assert_eq!(parse_time(&text), Ok(Timestamp(secs)), "{}", text);
    }

    #[test]
    fn path_matching_never_panics(
        prefixes in prop::collection::vec(any::<String>(), 0..4),
        path in prop_oneof![any::<String>(), any_path()],
    ) {
        let _ = allows(&prefixes, &path);
        for p in &prefixes {
            let _ = validate_prefix(p);
        }
        if prefixes.is_empty() {
            prop_assert!(allows(&prefixes, &path), "no prefixes allow everything");
        }
    }

    #[test]
    fn a_path_with_a_dot_segment_is_never_allowed(
        prefixes in prop::collection::vec(prop_oneof![
            any::<String>(),
            plain_prefix(),
            plain_prefix().prop_map(|p| format!("={p}")),
            Just("/".to_owned()),
        ], 1..4),
        // No `?` or `#` before the dot segment: that would make it part of the query.
        before in prop::collection::vec(path_segment().prop_filter("no query", |s| !s.contains(['?', '#'])), 0..3),
        dot in dot_segment(),
        after in prop::collection::vec(path_segment(), 0..3),
        query in prop_oneof![Just(String::new()), "\\?[a-z=&/]{0,10}"],
    ) {
        let mut segs = before;
        segs.push(dot.to_owned());
        segs.extend(after);
        let path = format!("/{}{query}", segs.join("/"));
        prop_assert!(!allows(&prefixes, &path), "{:?} allowed {:?}", prefixes, path);
    }

    #[test]
    fn an_encoded_slash_or_backslash_is_never_allowed(
        prefix in plain_prefix(),
        head in "[a-z]{0,5}",
        enc in prop::sample::select(vec!["%2f", "%2F", "%5c", "%5C", "\\"]),
        tail in "[a-z/]{0,5}",
    ) {
        let path = format!("{prefix}/{head}{enc}{tail}");
        prop_assert!(!allows(std::slice::from_ref(&prefix), &path), "{} allowed {}", prefix, path);
    }

    #[test]
    fn a_prefix_allows_itself_and_below_but_not_a_sibling(
        prefix in prop_oneof![plain_prefix(), plain_prefix().prop_map(|p| format!("{p}/"))],
        below in "[A-Za-z0-9_-]{1,8}",
    ) {
        prop_assert!(validate_prefix(&prefix).is_ok(), "{}", prefix);
        let list = [prefix.clone()];
        prop_assert!(allows(&list, &prefix), "{} itself", prefix);
        prop_assert!(allows(&list, &format!("{prefix}/x")), "{}/x", prefix);
        let with_query = format!("{}/{below}?q=1", prefix.strip_suffix('/').unwrap_or(&prefix));
        prop_assert!(allows(&list, &with_query), "{}", with_query);
        if !prefix.ends_with('/') {
            prop_assert!(!allows(&list, &format!("{prefix}{below}")), "{}{} is a sibling", prefix, below);
        }
    }

    #[test]
    fn every_allowed_path_lies_under_the_prefix_as_written(
        prefix in "/[a-zA-Z0-9/%?#.=_~-]{0,12}".prop_filter("valid", |p| validate_prefix(p).is_ok()),
        suffix in "[a-z0-9/%?#.]{0,8}",
        other in any_path(),
    ) {
        let decoded = |s: &str| -> Vec<u8> {
            percent_encoding::percent_decode_str(s.split(['?', '#']).next().unwrap()).collect()
        };
        let whole: Vec<u8> = percent_encoding::percent_decode_str(&prefix).collect();
        for path in [format!("{prefix}{suffix}"), other] {
            if allows(std::slice::from_ref(&prefix), &path) {
                prop_assert!(
                    decoded(&path).starts_with(&whole),
                    "{:?} allowed {:?}, which is not under it",
                    prefix,
                    path
                );
            }
        }
    }

    #[test]
    fn an_exact_prefix_allows_only_itself(prefix in plain_prefix(), below in "[a-z0-9]{1,8}") {
        let list = [format!("={prefix}")];
        prop_assert!(validate_prefix(&list[0]).is_ok());
        prop_assert!(allows(&list, &prefix));
        let deeper = format!("{}/{below}", prefix.trim_end_matches('/'));
        prop_assert!(!allows(&list, &deeper), "{}", deeper);
    }

    #[test]
    fn a_path_with_a_dangerous_segment_is_never_allowed_for_a_restricted_key(
        prefix in prop_oneof![
            plain_prefix(),
            plain_prefix().prop_map(|p| format!("{p}/")),
        ],
        others in prop::collection::vec(plain_prefix(), 0..3),
        before in prop::collection::vec(prop_oneof![safe_segment(), dangerous_segment()], 0..3),
        bad in dangerous_segment(),
        after in prop::collection::vec(prop_oneof![safe_segment(), dangerous_segment()], 0..3),
        query in prop_oneof![Just(String::new()), "\\?[a-z=&/.;]{0,10}"],
    ) {
        let mut segs = before;
        segs.push(bad);
        segs.extend(after);
        let path = format!("{}/{}{query}", prefix.trim_end_matches('/'), segs.join("/"));
        let mut prefixes = vec![prefix, "/".to_owned()];
        prefixes.extend(others);
        prop_assert!(!allows(&prefixes, &path), "{:?} allowed {:?}", prefixes, path);
        prop_assert!(allows::<&str>(&[], &path), "no prefixes allow {:?}", path);
    }

    #[test]
    fn a_path_of_safe_segments_under_the_prefix_is_allowed(
        prefix in prop_oneof![
            plain_prefix(),
            plain_prefix().prop_map(|p| format!("{p}/")),
        ],
        segs in prop::collection::vec(safe_segment(), 1..5),
        query in prop_oneof![Just(String::new()), "\\?[a-z=&/.;%]{0,10}"],
    ) {
        let dir = if prefix.ends_with('/') { prefix.clone() } else { format!("{prefix}/") };
        let path = format!("{dir}{}{query}", segs.join("/"));
        prop_assert!(validate_prefix(&prefix).is_ok(), "{}", prefix);
        prop_assert!(allows(std::slice::from_ref(&prefix), &path), "{:?} refused {:?}", prefix, path);
    }
}
