//! `activity policy show|set|test`: the access policies of `activity_core::access`.

use std::io::Read;
use std::process::ExitCode;

use activity_core::access::{AccessControl, AccessPolicy, AccessRequest, Denial};
use activity_core::enrich::GeoResolver;
use activity_core::text::escape_control;
use activity_core::Actor;

use crate::cli::args::{PolicyAction, PolicyArgs, PolicySet, PolicyShow, PolicyTest};
use crate::cli::context::{access_policies, operator, Ctx};
use crate::cli::Failure;

/// Runs the policy subcommand.
pub(crate) async fn run(a: PolicyArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let control = AccessControl::load(access_policies(&ctx.url).await?)
        .await?
        .recorder(ctx.recorder.clone());
    match a.action {
        PolicyAction::Show(s) => show(s, &control),
        PolicyAction::Set(s) => set(s, &control, ctx).await,
        PolicyAction::Test(t) => test(t, &control, ctx),
    }
}

fn show(s: PolicyShow, control: &AccessControl) -> Result<ExitCode, Failure> {
    let set = control.policies();
    if s.all {
        println!("{}", serde_json::to_string_pretty(&*set)?);
    } else {
        let policy = set.policy(s.tenant.as_deref()).cloned().unwrap_or_default();
        println!("{}", policy.to_json());
    }
    Ok(ExitCode::SUCCESS)
}

async fn set(s: PolicySet, control: &AccessControl, ctx: &Ctx) -> Result<ExitCode, Failure> {
    ctx.require_key().await?;
    let policy = match &s.file {
        None => None,
        Some(path) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(path).map_err(|e| Failure::file(path, e))?;
            }
            Some(AccessPolicy::from_json(&text).map_err(|e| Failure::usage(e.to_string()))?)
        }
    };
    let by = match &s.by {
        Some(name) => Actor::new(
            name.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>(),
        )
        .with_kind("operator"),
        None => operator(),
    };
    let rules = policy.as_ref().map_or(0, |p| p.rules.len());
    control.set(s.tenant.as_deref(), policy, by).await?;
    ctx.recorder.flush().await?;
    let whose = s
        .tenant
        .as_deref()
        .map_or("the global policy".to_owned(), |t| {
            format!("tenant {}'s policy", escape_control(t))
        });
    match s.clear {
        true => println!("cleared {whose} (version {})", control.policies().version),
        false => println!(
            "set {whose}: {rules} rules (version {})",
            control.policies().version
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn test(t: PolicyTest, control: &AccessControl, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let at = match &t.at {
        Some(v) => {
            crate::cli::time::parse_when("at", v, chrono::Utc::now()).map_err(Failure::usage)?
        }
        None => chrono::Utc::now(),
    };
    let country = match (&t.country, t.ip, &ctx.geoip_city) {
        (Some(c), _, _) => Some(c.clone()),
        (None, Some(ip), Some(city)) => activity_core::enrich::MaxMindResolver::open(city)
            .map_err(|e| Failure::usage(format!("[geoip] city: {e}")))?
            .resolve(ip)
            .and_then(|g| g.country),
        _ => None,
    };
    let req = AccessRequest {
        tenant: t.tenant.as_deref(),
        account: t.account.as_deref(),
        roles: &t.role,
        ip: t.ip,
        country: country.as_deref(),
        at,
    };
    let decision = control.decide(&req);
    let describe = |d: &Denial| {
        let policy = d
            .policy
            .as_deref()
            .map_or("the global policy".to_owned(), |t| {
                format!("tenant {}'s policy", escape_control(t))
            });
        let local = d
            .local_time
            .as_deref()
            .map(|l| format!(", local time {l}"))
            .unwrap_or_default();
        format!(
            "{} by rule {:?} of {policy}{local}",
            d.reason.as_str(),
            escape_control(&d.rule)
        )
    };
    let inputs = format!(
        "ip {}, country {}, at {}",
        t.ip.map_or("unknown".into(), |i| i.to_string()),
        country.as_deref().map_or("unknown".into(), escape_control),
        at.to_rfc3339()
    );
    for r in &decision.reported {
        println!("report-only: would deny: {}", describe(r));
    }
    match &decision.denied {
        Some(d) => {
            println!("denied: {} ({inputs})", describe(d));
            Ok(ExitCode::from(3))
        }
        None => {
            println!("allowed ({inputs})");
            Ok(ExitCode::SUCCESS)
        }
    }
}
