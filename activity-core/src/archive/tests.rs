use chrono::Utc;

use super::*;
use crate::chain::ChainKey;

use crate::event::ActivityEvent;
use crate::export::ExportFormat;

use crate::store::ActivityStore;
use crate::{chain::ChainSealer, Actor, MemoryStore};
use chrono::{Duration, TimeZone};

#[tokio::test]
async fn archive_then_verify_then_tamper() {
    let store = MemoryStore::new();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let mut events: Vec<_> = (0..30)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user(format!("u{i}")))
                .with_time(t0 + Duration::hours(i))
        })
        .collect();
    ChainSealer::new("w", ChainKey::unkeyed()).seal_all(&mut events);
    store.append(&events).await.unwrap();
    for format in [ExportFormat::JsonLines, ExportFormat::Csv] {
        let dir = std::env::temp_dir().join(format!("activity-archive-{}", uuid::Uuid::now_v7()));
        let m = archive(
            &store,
            &dir,
            None,
            t0,
            t0 + Duration::days(1),
            format,
            t0 + Duration::days(2),
        )
        .await
        .unwrap();
        assert_eq!(m.files[0].rows, 24, "a closed day");
        assert_eq!((m.chains[0].first_seq, m.chains[0].last_seq), (1, 24));
        let (_, problems) = verify_archive(&dir).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        // A second archive into the same directory is refused.
        assert!(
            archive(&store, &dir, None, t0, t0 + Duration::days(1), format, t0)
                .await
                .is_err()
        );
        // Alter the file.
        let f = dir.join(&m.files[0].name);
        let mut text = std::fs::read_to_string(&f).unwrap();
        text = text.replacen("u3", "u9", 1);
        std::fs::write(&f, text).unwrap();
        let (_, problems) = verify_archive(&dir).unwrap();
        assert_eq!(
            problems,
            vec![ArchiveProblem::ChecksumMismatch(m.files[0].name.clone())]
        );
        std::fs::remove_file(&f).unwrap();
        let (_, problems) = verify_archive(&dir).unwrap();
        assert_eq!(
            problems,
            vec![ArchiveProblem::Missing(m.files[0].name.clone())]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Issue 23 (review A16): edit an archived event, recompute the SHA-256 in the manifest,
/// and `verify_archive` said intact; a CSV archive's claimed row count was never
/// counted, and a JSON Lines one only by newlines (a line of junk passed as a row). A
/// signed manifest finds the edit (the signature no longer holds), rows are counted by
/// parsing, and a purge that requires signed archives does not count the forged one.
#[tokio::test]
async fn a_rewritten_archive_and_manifest_fail_the_signature_and_rows_are_counted() {
    use crate::retention::{Purger, Retention, RetentionPolicy};
    use crate::signed::SigningKey;
    use sha2::{Digest, Sha256};
    let store = std::sync::Arc::new(MemoryStore::new());
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let events: Vec<_> = (0..10)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user(format!("u{i}")))
                .with_time(t0 + Duration::hours(i))
        })
        .collect();
    store.append(&events).await.unwrap();
    let key = SigningKey::from_seed(&[9; 32]);
    let until = t0 + Duration::days(1);
    for format in [ExportFormat::JsonLines, ExportFormat::Csv] {
        let dir = std::env::temp_dir().join(format!("activity-archive-{}", uuid::Uuid::now_v7()));
        archive(&*store, &dir, None, t0, until, format, until)
            .await
            .unwrap();
        let signed = sign_manifest(&dir, &key).unwrap();
        let name = signed.files[0].name.clone();
        assert!(verify_archive_signed(&dir, &key.public_key())
            .unwrap()
            .1
            .is_empty());

        // The attacker rewrites an event and recomputes the checksum in the manifest.
        let file = dir.join(&name);
        let text = std::fs::read_to_string(&file).unwrap().replace("u3", "u9");
        std::fs::write(&file, &text).unwrap();
        let mut forged = read_manifest(&dir).unwrap();
        forged.files[0].sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_string_pretty(&forged).unwrap(),
        )
        .unwrap();
        assert!(
            verify_archive(&dir).unwrap().1.is_empty(),
            "unsigned, the forgery passes: what the signature is for"
        );
        assert_eq!(
            verify_archive_signed(&dir, &key.public_key()).unwrap().1,
            vec![ArchiveProblem::BadSignature],
            "{format:?}"
        );
        let other = SigningKey::from_seed(&[1; 32]).public_key();
        sign_manifest(&dir, &key).unwrap();
        assert_eq!(
            verify_archive_signed(&dir, &other).unwrap().1,
            vec![ArchiveProblem::BadSignature],
            "another key's signature"
        );

        // Rows are counted: a junk line, or a CSV short of a record, is a row mismatch
        // even with a consistent checksum.
        let junk = if format == ExportFormat::Csv {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.pop();
            lines.join("\n") + "\n"
        } else {
            let mut lines: Vec<&str> = text.lines().collect();
            lines[2] = "not an event";
            lines.join("\n") + "\n"
        };
        std::fs::write(&file, &junk).unwrap();
        let mut recounted = read_manifest(&dir).unwrap();
        recounted.files[0].sha256 = hex::encode(Sha256::digest(junk.as_bytes()));
        recounted.sign(&key);
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_string_pretty(&recounted).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verify_archive_signed(&dir, &key.public_key()).unwrap().1,
            vec![ArchiveProblem::RowsMismatch(name.clone())],
            "{format:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // A purge requiring signed archives does not count an unsigned one.
    let root = std::env::temp_dir().join(format!("activity-archives-{}", uuid::Uuid::now_v7()));
    archive(
        &*store,
        &root.join("2026-01-01"),
        None,
        t0,
        until,
        ExportFormat::JsonLines,
        until,
    )
    .await
    .unwrap();
    let now = t0 + Duration::days(200);
    let purger = |signed: bool| {
        let p = Purger::new(
            store.clone(),
            RetentionPolicy::new(Retention::Days(90)),
            std::sync::Arc::new(crate::ManualClock::new(now)),
        )
        .require_archive(&root);
        if signed {
            p.require_signed_archives(key.public_key())
        } else {
            p
        }
    };
    assert!(matches!(
        purger(true).run_once(false).await,
        Err(crate::Error::NotArchived { events: 10, .. })
    ));
    assert_eq!(store.len(), 10, "nothing deleted on an unsigned archive");
    sign_manifest(&root.join("2026-01-01"), &key).unwrap();
    purger(true).run_once(false).await.unwrap();
    assert_eq!(
        store.len(),
        0,
        "a signed, verified archive lets the purge go on"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
