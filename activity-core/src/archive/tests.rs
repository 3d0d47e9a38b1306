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
