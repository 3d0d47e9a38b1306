//! `activity checkpoint --out DIR`: the next signed checkpoint; `checkpoint keygen`: a
//! signing key pair.

use std::path::Path;
use std::process::ExitCode;

use activity_core::signed::{write_key_pair, CheckpointWriter, SigningKey};

use crate::cli::args::CheckpointArgs;
use crate::cli::context::Ctx;
use crate::cli::Failure;

/// Writes the next checkpoint (status 3 when the log does not verify or lost events
/// since the previous checkpoint: nothing is signed then).
pub(crate) async fn run(a: CheckpointArgs, ctx: &Ctx) -> Result<ExitCode, Failure> {
    let Some(out) = &a.out else {
        return Err(Failure::usage(
            "checkpoint needs --out DIR (or: checkpoint keygen --secret FILE --public FILE)",
        ));
    };
    ctx.require_key().await?;
    let signer = signer(a.signing_key.as_deref(), ctx)?;
    write(ctx, signer, out).await
}

/// Writes the next checkpoint of `ctx`'s store into `dir` with `signer`.
pub(crate) async fn write(ctx: &Ctx, signer: SigningKey, dir: &Path) -> Result<ExitCode, Failure> {
    let (store, progress) = ctx.counted("checkpoint");
    let writer = CheckpointWriter::new(store, ctx.key.clone(), signer, dir);
    let result = writer.run_once().await;
    progress.finish();
    match result {
        Ok(cp) => {
            println!(
                "checkpoint {} of {} chains written into {} (public key {})",
                cp.number,
                cp.chains.len(),
                dir.display(),
                &cp.public_key[..16.min(cp.public_key.len())]
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ activity_core::Error::NotCheckpointed { .. }) => {
            println!("BROKEN: {e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(e.into()),
    }
}

/// The signing key: `--signing-key FILE`, else the configuration's.
pub(crate) fn signer(file: Option<&Path>, ctx: &Ctx) -> Result<SigningKey, Failure> {
    match file {
        Some(f) => SigningKey::read(f)
            .map_err(|e| Failure::usage(format!("--signing-key {}: {e}", f.display()))),
        None => ctx.signing_key.clone().ok_or_else(|| {
            Failure::usage(
                "no signing key: pass --signing-key FILE, or set [chain] signing_key_file or \
                 ACTIVITY_SIGNING_KEY (make one with `activity checkpoint keygen`)",
            )
        }),
    }
}

/// `checkpoint keygen --secret FILE --public FILE`.
pub(crate) fn keygen(secret: &Path, public: &Path) -> Result<ExitCode, Failure> {
    let pk = write_key_pair(secret, public).map_err(|e| Failure::failed(e.to_string()))?;
    println!(
        "signing key written to {} (keep it with the application, away from the database); \
         public key {} written to {} (hand it to auditors)",
        secret.display(),
        pk.fingerprint(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}
