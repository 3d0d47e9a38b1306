//! Geo enrichment: a [`GeoResolver`] turns a source address into a location, and
//! [`GeoEnricher`] runs it in the recorder's worker — never on the request path.
//!
//! [`MaxMindResolver`] (feature `geoip`) reads GeoIP2 / GeoLite2 City databases with the
//! `maxminddb` crate. A corrupt or wrong-type file is refused when opened, with a clear
//! error, and never causes a panic later; [`MaxMindResolver::reload`] swaps in a new file
//! without interrupting lookups. Memory-mapping is not offered: `maxminddb`'s mmap
//! constructor is `unsafe` and this crate forbids unsafe code, so the file is read into
//! memory (a GeoLite2 City database is about 70 MB).

use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{ActivityEvent, Geo};
use crate::pipeline::Enricher;

/// Resolves addresses to locations.
pub trait GeoResolver: Send + Sync + 'static {
    /// The location of `ip`, or `None` when unknown (and always for private, loopback
    /// and other non-global addresses).
    fn resolve(&self, ip: IpAddr) -> Option<Geo>;
}

/// Whether `ip` is an address that can have a location (not private, loopback,
/// link-local, unspecified, documentation or multicast).
///
/// ```
/// assert!(!activity_core::is_global(&"10.1.2.3".parse().unwrap()));
/// assert!(!activity_core::is_global(&"::1".parse().unwrap()));
/// assert!(activity_core::is_global(&"81.2.69.142".parse().unwrap()));
/// ```
pub fn is_global(ip: &IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

/// The recorder stage that fills `source.geo` from a resolver.
///
/// ```
/// use std::net::IpAddr;
/// use activity_core::{ActivityEvent, Actor, Enricher, Geo, GeoEnricher, GeoResolver};
/// struct Fixed;
/// impl GeoResolver for Fixed {
///     fn resolve(&self, _ip: IpAddr) -> Option<Geo> { Some(Geo { country: Some("GB".into()), ..Geo::default() }) }
/// }
/// let mut e = ActivityEvent::logout(Actor::user("u")).with_ip("81.2.69.142".parse().unwrap());
/// GeoEnricher::new(Fixed).enrich(&mut e);
/// assert_eq!(e.source.unwrap().geo.unwrap().country.as_deref(), Some("GB"));
/// ```
#[derive(Debug, Clone)]
pub struct GeoEnricher<R> {
    resolver: Arc<R>,
}

impl<R: GeoResolver> GeoEnricher<R> {
    /// An enricher over `resolver`.
    pub fn new(resolver: R) -> Self {
        Self {
            resolver: Arc::new(resolver),
        }
    }

    /// An enricher over a shared resolver (so the app can `reload` it).
    pub fn shared(resolver: Arc<R>) -> Self {
        Self { resolver }
    }
}

impl<R: GeoResolver> Enricher for GeoEnricher<R> {
    fn enrich(&self, event: &mut ActivityEvent) {
        let Some(source) = event.source.as_mut() else {
            return;
        };
        if source.geo.is_some() {
            return;
        }
        if let Some(ip) = source.ip.filter(is_global) {
            source.geo = self.resolver.resolve(ip);
        }
    }
}

#[cfg(feature = "geoip")]
pub use maxmind::MaxMindResolver;

#[cfg(feature = "geoip")]
mod maxmind {
    use std::net::IpAddr;
    use std::path::Path;
    use std::sync::{Arc, RwLock};

    use maxminddb::{geoip2, Reader};

    use super::{is_global, GeoResolver};
    use crate::error::{Error, Result, Rule};
    use crate::event::Geo;

    /// A GeoIP2 / GeoLite2 City database.
    pub struct MaxMindResolver {
        reader: RwLock<Arc<Reader<Vec<u8>>>>,
    }

    impl std::fmt::Debug for MaxMindResolver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let r = self.current();
            f.debug_struct("MaxMindResolver")
                .field("database_type", &r.metadata().database_type)
                .finish()
        }
    }

    fn check(bytes: Vec<u8>) -> Result<Reader<Vec<u8>>> {
        let bad = |what: String| {
            Error::invalid("geoip", Rule::Malformed(Box::leak(what.into_boxed_str())))
        };
        // A full structural check up front, so that a corrupt file fails here and not
        // at some later lookup.
        let reader = Reader::from_source(bytes)
            .map_err(|e| bad(format!("not a readable MaxMind DB: {e}")))?;
        reader
            .verify()
            .map_err(|e| bad(format!("corrupt MaxMind DB: {e}")))?;
        let t = &reader.metadata().database_type;
        if !t.contains("City") {
            return Err(bad(format!("a City database is needed, this one is {t:?}")));
        }
        Ok(reader)
    }

    impl MaxMindResolver {
        /// Opens a City database file.
        ///
        /// # Errors
        /// [`Error::Invalid`] naming `geoip` for a missing, corrupt or non-City file.
        pub fn open(path: impl AsRef<Path>) -> Result<Self> {
            Self::from_bytes(read(path.as_ref())?)
        }

        /// Opens a City database from bytes.
        ///
        /// # Errors
        /// As [`open`](Self::open).
        pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
            Ok(Self {
                reader: RwLock::new(Arc::new(check(bytes)?)),
            })
        }

        /// Replaces the database with a new file; lookups in progress finish on the old
        /// one. A bad file leaves the current database in place.
        ///
        /// # Errors
        /// As [`open`](Self::open).
        pub fn reload(&self, path: impl AsRef<Path>) -> Result<()> {
            let fresh = Arc::new(check(read(path.as_ref())?)?);
            *self.reader.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            Ok(())
        }

        fn current(&self) -> Arc<Reader<Vec<u8>>> {
            self.reader
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }
    }

    fn read(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| {
            Error::invalid(
                "geoip",
                Rule::Malformed(Box::leak(
                    format!("cannot read {}: {e}", path.display()).into_boxed_str(),
                )),
            )
        })
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
}

#[cfg(all(test, feature = "geoip"))]
mod tests {
    use super::*;
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
    }
}
