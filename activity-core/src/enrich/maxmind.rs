//! [`MaxMindResolver`] and [`MaxMindAnonymousIp`]: GeoIP2 / GeoLite2 City and Anonymous-IP databases read with the `maxminddb` crate.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use maxminddb::{geoip2, Reader};

use super::{is_global, AnonymousIpResolver, AnonymousKind, GeoResolver};
use crate::error::{Error, Result};
use crate::event::Geo;

/// A verified database of one type, swapped whole on reload while lookups run.
struct Database {
    kind: &'static str,
    reader: RwLock<Arc<Reader<Vec<u8>>>>,
}

impl Database {
    fn from_bytes(bytes: Vec<u8>, kind: &'static str) -> Result<Self> {
        Ok(Self {
            kind,
            reader: RwLock::new(Arc::new(check_type(bytes, kind)?)),
        })
    }

    fn reload(&self, path: &Path) -> Result<()> {
        let fresh = Arc::new(check_type(read(path)?, self.kind)?);
        *self.reader.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    fn current(&self) -> Arc<Reader<Vec<u8>>> {
        self.reader
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("database_type", &self.current().metadata().database_type)
            .finish()
    }
}

/// Opens and fully verifies a database whose type names `kind`.
fn check_type(bytes: Vec<u8>, kind: &str) -> Result<Reader<Vec<u8>>> {
    let bad = |what: &str, e: maxminddb::MaxMindDbError| Error::GeoIp {
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    };
    // A full structural check up front, so that a corrupt file fails here and not
    // at some later lookup.
    let reader = Reader::from_source(bytes).map_err(|e| bad("not a readable MaxMind DB", e))?;
    reader.verify().map_err(|e| bad("corrupt MaxMind DB", e))?;
    let t = &reader.metadata().database_type;
    if !t.contains(kind) {
        return Err(Error::GeoIp {
            message: format!("a {kind} database is needed, this one is {t:?}"),
            source: None,
        });
    }
    Ok(reader)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::GeoIp {
        message: format!("cannot read {}: {e}", path.display()),
        source: Some(Box::new(e)),
    })
}

/// A GeoIP2 / GeoLite2 City database.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, recorder::Enricher, enrich::GeoEnricher, enrich::GeoResolver, enrich::MaxMindResolver};
/// # let dir = std::env::temp_dir().join(format!("activity-doc-{}", activity_core::reexports::uuid::Uuid::now_v7()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let mut w = mmdb_writer::Writer::builder("GeoIP2-City").description(&[("en", "doc")]).build();
/// # w.insert("81.2.69.128/26".parse::<ipnet::IpNet>().unwrap(), &serde_json::json!({
/// #     "country": {"iso_code": "GB"}, "city": {"names": {"en": "London"}},
/// #     "location": {"latitude": 51.5142, "longitude": -0.0931}})).unwrap();
/// # let path = dir.join("GeoLite2-City.mmdb");
/// # std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
/// // e.g. /var/lib/GeoIP/GeoLite2-City.mmdb
/// let resolver = MaxMindResolver::open(&path)?;
/// let london = resolver.resolve("81.2.69.142".parse().unwrap()).unwrap();
/// assert_eq!(london.country.as_deref(), Some("GB"));
/// assert!(resolver.resolve("10.0.0.1".parse().unwrap()).is_none(), "private");
/// // In the recorder: `Recorder::builder(store).enricher(GeoEnricher::new(resolver))`.
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// GeoEnricher::new(resolver).enrich(&mut e);
/// assert_eq!(e.source.unwrap().geo.unwrap().city.as_deref(), Some("London"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), activity_core::Error>(())
/// ```
pub struct MaxMindResolver {
    db: Database,
}

impl std::fmt::Debug for MaxMindResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.db.debug("MaxMindResolver", f)
    }
}

impl MaxMindResolver {
    /// Opens a City database file.
    ///
    /// # Errors
    /// [`Error::GeoIp`] for a missing, corrupt or non-City file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(read(path.as_ref())?)
    }

    /// Opens a City database from bytes.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Ok(Self {
            db: Database::from_bytes(bytes, "City")?,
        })
    }

    /// Replaces the database with a new file; lookups in progress finish on the old
    /// one. A bad file leaves the current database in place.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<()> {
        self.db.reload(path.as_ref())
    }

    fn current(&self) -> Arc<Reader<Vec<u8>>> {
        self.db.current()
    }
}

/// A GeoIP2 Anonymous-IP database (VPN, Tor, hosting, proxies), for
/// [`AnonymousIpEnricher`](crate::enrich::AnonymousIpEnricher). Opened, verified and
/// reloaded like [`MaxMindResolver`].
///
/// ```
/// use activity_core::{enrich::anonymous_kinds, ActivityEvent, Actor, enrich::AnonymousIpEnricher,
///     enrich::AnonymousIpResolver, enrich::AnonymousKind, recorder::Enricher, enrich::MaxMindAnonymousIp};
/// # let dir = std::env::temp_dir().join(format!("activity-doc-{}", activity_core::reexports::uuid::Uuid::now_v7()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let mut w = mmdb_writer::Writer::builder("GeoIP2-Anonymous-IP").description(&[("en", "doc")]).build();
/// # w.insert("175.16.199.0/28".parse::<ipnet::IpNet>().unwrap(),
/// #     &serde_json::json!({"is_anonymous": true, "is_tor_exit_node": true})).unwrap();
/// # let path = dir.join("GeoIP2-Anonymous-IP.mmdb");
/// # std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
/// let anonymous = MaxMindAnonymousIp::open(&path)?;
/// assert_eq!(anonymous.anonymous("175.16.199.1".parse().unwrap()), vec![AnonymousKind::Tor]);
/// assert!(anonymous.anonymous("81.2.69.142".parse().unwrap()).is_empty());
/// // In the recorder, before any `IpPrivacy` stage:
/// // `Recorder::builder(store).enricher(AnonymousIpEnricher::new(anonymous))`.
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("175.16.199.1".parse().unwrap());
/// AnonymousIpEnricher::new(anonymous).enrich(&mut e);
/// assert_eq!(anonymous_kinds(&e), vec![AnonymousKind::Tor]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), activity_core::Error>(())
/// ```
pub struct MaxMindAnonymousIp {
    db: Database,
}

impl std::fmt::Debug for MaxMindAnonymousIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.db.debug("MaxMindAnonymousIp", f)
    }
}

impl MaxMindAnonymousIp {
    /// Opens an Anonymous-IP database file.
    ///
    /// # Errors
    /// [`Error::GeoIp`] for a missing, corrupt or non-Anonymous-IP file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(read(path.as_ref())?)
    }

    /// Opens an Anonymous-IP database from bytes.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Ok(Self {
            db: Database::from_bytes(bytes, "Anonymous-IP")?,
        })
    }

    /// Replaces the database with a new file; lookups in progress finish on the old
    /// one. A bad file leaves the current database in place.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<()> {
        self.db.reload(path.as_ref())
    }

    fn current(&self) -> Arc<Reader<Vec<u8>>> {
        self.db.current()
    }
}

impl AnonymousIpResolver for MaxMindAnonymousIp {
    fn anonymous(&self, ip: IpAddr) -> Vec<AnonymousKind> {
        if !is_global(&ip) {
            return Vec::new();
        }
        let reader = self.current();
        let Ok(found) = reader.lookup(ip.to_canonical()) else {
            return Vec::new();
        };
        let Ok(Some(rec)) = found.decode::<geoip2::AnonymousIp>() else {
            return Vec::new();
        };
        let yes = |f: Option<bool>| f == Some(true);
        let mut kinds = Vec::new();
        for (flag, kind) in [
            (rec.is_anonymous_vpn, AnonymousKind::Vpn),
            (rec.is_tor_exit_node, AnonymousKind::Tor),
            (rec.is_hosting_provider, AnonymousKind::Hosting),
            (rec.is_public_proxy, AnonymousKind::PublicProxy),
            (rec.is_residential_proxy, AnonymousKind::ResidentialProxy),
        ] {
            if yes(flag) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() && yes(rec.is_anonymous) {
            kinds.push(AnonymousKind::Anonymous);
        }
        kinds
    }
}

impl GeoResolver for MaxMindResolver {
    fn resolve(&self, ip: IpAddr) -> Option<Geo> {
        if !is_global(&ip) {
            return None;
        }
        let reader = self.current();
        let found = reader.lookup(ip.to_canonical()).ok()?;
        let city: geoip2::City<'_> = found.decode().ok()??;
        let geo = Geo {
            country: city
                .country
                .iso_code
                .filter(|c| c.len() == 2)
                .map(str::to_owned),
            city: city
                .city
                .names
                .english
                .map(|c| c.chars().take(128).collect()),
            lat: city
                .location
                .latitude
                .filter(|l| (-90.0..=90.0).contains(l)),
            lon: city
                .location
                .longitude
                .filter(|l| (-180.0..=180.0).contains(l)),
            accuracy_km: city.location.accuracy_radius.map(u32::from),
        };
        (geo != Geo::default()).then_some(geo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{anonymous_kinds, AnonymousIpEnricher, GeoEnricher};
    use crate::event::ActivityEvent;
    use crate::recorder::Enricher;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Names {
        en: String,
    }
    #[derive(Serialize)]
    struct Country {
        iso_code: String,
    }
    #[derive(Serialize)]
    struct CityName {
        names: Names,
    }
    #[derive(Serialize)]
    struct Location {
        latitude: f64,
        longitude: f64,
        accuracy_radius: u16,
    }
    #[derive(Serialize)]
    struct Rec {
        country: Country,
        city: CityName,
        location: Location,
    }

    /// A City database made here: London, Changchun and Boxford, as MaxMind's test data.
    fn fixture(db_type: &str) -> Vec<u8> {
        let mut w = mmdb_writer::Writer::builder(db_type)
            .description(&[("en", "activity test fixture")])
            .build();
        for (net, iso, city, lat, lon, acc) in [
            ("81.2.69.128/26", "GB", "London", 51.5142, -0.0931, 10u16),
            ("175.16.199.0/24", "CN", "Changchun", 43.88, 125.3228, 50),
            ("2.125.160.216/29", "GB", "Boxford", 51.75, -1.25, 100),
        ] {
            let rec = Rec {
                country: Country {
                    iso_code: iso.into(),
                },
                city: CityName {
                    names: Names { en: city.into() },
                },
                location: Location {
                    latitude: lat,
                    longitude: lon,
                    accuracy_radius: acc,
                },
            };
            w.insert(net.parse::<ipnet::IpNet>().unwrap(), &rec)
                .unwrap();
        }
        w.to_bytes().unwrap()
    }

    #[test]
    fn resolves_from_a_database_built_here() {
        let r = MaxMindResolver::from_bytes(fixture("GeoIP2-City")).unwrap();
        let london = r.resolve("81.2.69.142".parse().unwrap()).unwrap();
        assert_eq!(london.country.as_deref(), Some("GB"));
        assert_eq!(london.city.as_deref(), Some("London"));
        assert_eq!(london.accuracy_km, Some(10));
        assert!(
            r.resolve("8.8.8.8".parse().unwrap()).is_none(),
            "not in the database"
        );
        assert!(r.resolve("10.0.0.1".parse().unwrap()).is_none(), "private");
        assert!(
            r.resolve("::ffff:175.16.199.1".parse().unwrap()).is_some(),
            "mapped v4"
        );
    }

    #[test]
    fn wrong_type_and_garbage_are_refused_at_open() {
        let err = MaxMindResolver::from_bytes(fixture("GeoIP2-Anonymous-IP")).unwrap_err();
        assert!(err.to_string().contains("City"), "{err}");
        assert!(
            matches!(err, crate::Error::GeoIp { source: None, .. }),
            "{err:?}"
        );
        let err = MaxMindResolver::open("/nonexistent/file.mmdb").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/file.mmdb"), "{err}");
        assert!(
            std::error::Error::source(&err).is_some(),
            "the io error is kept"
        );
        assert!(MaxMindResolver::from_bytes(b"not a database".to_vec()).is_err());
        let mut cut = fixture("GeoIP2-City");
        cut.truncate(cut.len() / 2);
        assert!(MaxMindResolver::from_bytes(cut).is_err());
        assert!(MaxMindResolver::open("/nonexistent/file.mmdb").is_err());
    }

    #[test]
    fn reload_swaps_and_a_bad_file_keeps_the_old_one() {
        let dir = std::env::temp_dir().join(format!("activity-geo-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("city.mmdb");
        std::fs::write(&good, fixture("GeoIP2-City")).unwrap();
        let r = MaxMindResolver::open(&good).unwrap();
        let bad = dir.join("bad.mmdb");
        std::fs::write(&bad, b"garbage").unwrap();
        assert!(r.reload(&bad).is_err());
        assert!(r.resolve("81.2.69.142".parse().unwrap()).is_some());
        r.reload(&good).unwrap();
        assert!(r.resolve("81.2.69.142".parse().unwrap()).is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[derive(Serialize, Default)]
    struct AnonRec {
        #[serde(skip_serializing_if = "Option::is_none")]
        is_anonymous: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_anonymous_vpn: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_hosting_provider: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_public_proxy: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_residential_proxy: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_tor_exit_node: Option<bool>,
    }

    /// An Anonymous-IP database made here: a Tor exit in Changchun's network, a VPN, a
    /// hosting network, and an address flagged only `is_anonymous`.
    fn anonymous_fixture(db_type: &str) -> Vec<u8> {
        let mut w = mmdb_writer::Writer::builder(db_type)
            .description(&[("en", "activity test fixture")])
            .build();
        let yes = Some(true);
        for (net, rec) in [
            (
                "175.16.199.0/28",
                AnonRec {
                    is_anonymous: yes,
                    is_tor_exit_node: yes,
                    ..AnonRec::default()
                },
            ),
            (
                "89.160.20.112/28",
                AnonRec {
                    is_anonymous: yes,
                    is_anonymous_vpn: yes,
                    is_hosting_provider: yes,
                    ..AnonRec::default()
                },
            ),
            (
                "216.160.83.56/29",
                AnonRec {
                    is_hosting_provider: yes,
                    is_anonymous: Some(false),
                    ..AnonRec::default()
                },
            ),
            (
                "2.125.160.216/29",
                AnonRec {
                    is_anonymous: yes,
                    ..AnonRec::default()
                },
            ),
        ] {
            w.insert(net.parse::<ipnet::IpNet>().unwrap(), &rec)
                .unwrap();
        }
        w.to_bytes().unwrap()
    }

    #[test]
    fn anonymous_ip_from_a_database_built_here() {
        use AnonymousKind::*;
        let r = MaxMindAnonymousIp::from_bytes(anonymous_fixture("GeoIP2-Anonymous-IP")).unwrap();
        let kinds = |ip: &str| r.anonymous(ip.parse().unwrap());
        assert_eq!(kinds("175.16.199.1"), vec![Tor]);
        assert_eq!(kinds("::ffff:175.16.199.1"), vec![Tor], "mapped v4");
        assert_eq!(kinds("175.16.199.16"), vec![], "just outside the /28");
        assert_eq!(kinds("89.160.20.113"), vec![Vpn, Hosting]);
        assert_eq!(kinds("216.160.83.57"), vec![Hosting]);
        assert_eq!(kinds("2.125.160.216"), vec![Anonymous]);
        assert_eq!(kinds("81.2.69.142"), vec![], "not in the database");
        assert_eq!(kinds("10.0.0.1"), vec![], "private");
        // The enricher writes the kinds into details, and they read back.
        let mut e = ActivityEvent::logout(crate::Actor::user("u"))
            .with_ip("89.160.20.113".parse().unwrap())
            .with_detail("method", "password");
        AnonymousIpEnricher::new(r).enrich(&mut e);
        let d = e.details.as_ref().unwrap();
        assert_eq!(d["ip_anonymous"], serde_json::json!(["vpn", "hosting"]));
        assert_eq!(d["method"], "password", "other details are kept");
        assert_eq!(anonymous_kinds(&e), vec![Vpn, Hosting]);
        e.validate().unwrap();
    }

    #[test]
    fn anonymous_ip_wrong_type_garbage_and_reload() {
        let err = MaxMindAnonymousIp::from_bytes(fixture("GeoIP2-City")).unwrap_err();
        assert!(err.to_string().contains("Anonymous-IP"), "{err}");
        assert!(MaxMindAnonymousIp::from_bytes(b"garbage".to_vec()).is_err());
        let mut cut = anonymous_fixture("GeoIP2-Anonymous-IP");
        cut.truncate(cut.len() / 2);
        assert!(MaxMindAnonymousIp::from_bytes(cut).is_err());
        assert!(MaxMindAnonymousIp::open("/nonexistent/anon.mmdb").is_err());
        let dir = std::env::temp_dir().join(format!("activity-anon-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("anon.mmdb");
        std::fs::write(&good, anonymous_fixture("GeoIP2-Anonymous-IP")).unwrap();
        let r = MaxMindAnonymousIp::open(&good).unwrap();
        let city = dir.join("city.mmdb");
        std::fs::write(&city, fixture("GeoIP2-City")).unwrap();
        assert!(
            r.reload(&city).is_err(),
            "a City file is not an Anonymous-IP one"
        );
        assert!(!r.anonymous("175.16.199.1".parse().unwrap()).is_empty());
        r.reload(&good).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Through the recorder: geo and anonymous-IP enrichment, then `geo_anomaly` with each
    /// action, on London then Changchun (through Tor) ten minutes later.
    #[tokio::test]
    async fn anonymous_logins_are_marked_or_suppressed_as_configured() {
        use crate::{
            alerts::AlertEngine, alerts::AnonymousIpAction, alerts::GeoAnomaly, ActivityQuery,
            ActivityStore, MemoryStore, Recorder, Source,
        };
        use chrono::TimeZone;
        let t0 = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
        let login = |ip: &str, at| {
            ActivityEvent::login_succeeded(crate::Actor::user("alice"))
                .with_time(at)
                .with_source(Source::ip(ip.parse().unwrap()).with_device_id("d1"))
        };
        let mut messages = Vec::new();
        for action in [
            AnonymousIpAction::Ignore,
            AnonymousIpAction::Mark,
            AnonymousIpAction::Suppress,
        ] {
            let store = std::sync::Arc::new(MemoryStore::new());
            let geo = MaxMindResolver::from_bytes(fixture("GeoIP2-City")).unwrap();
            let anon =
                MaxMindAnonymousIp::from_bytes(anonymous_fixture("GeoIP2-Anonymous-IP")).unwrap();
            let rule = GeoAnomaly {
                anonymous_ip: action,
                ..GeoAnomaly::default()
            };
            let (rec, guard) = Recorder::builder(store.clone())
                .enricher(GeoEnricher::new(geo))
                .enricher(AnonymousIpEnricher::new(anon))
                .after_commit(AlertEngine::new().rule(rule))
                .lifecycle_events(false)
                .start();
            rec.record(login("81.2.69.142", t0)).unwrap();
            rec.flush().await.unwrap();
            rec.record(login("175.16.199.1", t0 + chrono::Duration::minutes(10)))
                .unwrap();
            rec.flush().await.unwrap();
            let alerts = store
                .query(&ActivityQuery::new().action("alert.raised"))
                .await
                .unwrap()
                .events;
            messages.push(
                alerts
                    .iter()
                    .map(|a| a.details.as_ref().unwrap()["message"].to_string())
                    .collect::<Vec<_>>(),
            );
            guard.shutdown().await;
        }
        let [ignore, mark, suppress] = [&messages[0], &messages[1], &messages[2]];
        assert_eq!(ignore.len(), 1);
        assert!(ignore[0].contains("impossible travel") && !ignore[0].contains("anonymous"));
        assert_eq!(mark.len(), 1);
        assert!(
            mark[0].contains("impossible travel")
                && mark[0].contains("through an anonymous network (tor)"),
            "{}",
            mark[0]
        );
        assert!(suppress.is_empty(), "{suppress:?}");
    }

    #[test]
    fn maxminds_own_test_files_when_present() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/geoip");
        if !shared.exists() {
            eprintln!(
                "notice: {} not present; skipping the extra check",
                shared.display()
            );
            return;
        }
        let r = MaxMindResolver::open(shared.join("GeoIP2-City-Test.mmdb")).unwrap();
        assert_eq!(
            r.resolve("81.2.69.142".parse().unwrap())
                .unwrap()
                .city
                .as_deref(),
            Some("London")
        );
        assert_eq!(
            r.resolve("175.16.199.1".parse().unwrap())
                .unwrap()
                .country
                .as_deref(),
            Some("CN")
        );
        assert_eq!(
            r.resolve("2.125.160.216".parse().unwrap())
                .unwrap()
                .city
                .as_deref(),
            Some("Boxford")
        );
        for broken in [
            "GeoIP2-City-Test-Broken-Double-Format.mmdb",
            "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        ] {
            assert!(
                MaxMindResolver::open(shared.join(broken)).is_err(),
                "{broken}"
            );
        }
        assert!(MaxMindResolver::open(shared.join("GeoIP2-Anonymous-IP-Test.mmdb")).is_err());
        // MaxMind's Anonymous-IP test data (source-data/GeoIP2-Anonymous-IP-Test.json in
        // the MaxMind-DB repository).
        use AnonymousKind::*;
        let a = MaxMindAnonymousIp::open(shared.join("GeoIP2-Anonymous-IP-Test.mmdb")).unwrap();
        let kinds = |ip: &str| a.anonymous(ip.parse().unwrap());
        assert_eq!(kinds("1.2.0.1"), vec![Vpn]);
        assert_eq!(kinds("71.160.223.1"), vec![Hosting]);
        assert_eq!(kinds("186.30.236.1"), vec![PublicProxy]);
        assert_eq!(kinds("65.0.0.1"), vec![Tor]);
        assert_eq!(
            kinds("81.2.69.1"),
            vec![Vpn, Tor, Hosting, PublicProxy, ResidentialProxy]
        );
        assert_eq!(kinds("175.16.199.1"), vec![], "Changchun is not anonymous");
        assert!(MaxMindAnonymousIp::open(shared.join("GeoIP2-City-Test.mmdb")).is_err());
        for broken in [
            "GeoIP2-City-Test-Broken-Double-Format.mmdb",
            "GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        ] {
            assert!(
                MaxMindAnonymousIp::open(shared.join(broken)).is_err(),
                "{broken}"
            );
        }
    }
}
