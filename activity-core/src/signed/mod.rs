//! Signed checkpoints kept outside the database (the pattern of CloudTrail's signed
//! digest files): what lets an auditor check the log with a public key alone, and finds
//! what the database by itself cannot show (a whole chain deleted together with its
//! head row, a head rolled back).
//!
//! The chain's links are HMACs under the chain key, which an auditor must not hold (it
//! would let them rewrite the log). So each checkpoint carries, per chain, an unkeyed
//! **public commitment** ([`public_link`]): a SHA-256 chain over every stored position's
//! link hash and canonical content, from the chain's first stored position. The
//! [`CheckpointWriter`] (a [`Job`](crate::jobs::Job), or on demand: `activity
//! checkpoint --out DIR`) verifies the log under the chain key, compares it with the
//! previous checkpoint, and signs the state with an Ed25519 [`SigningKey`];
//! [`verify_checkpoints`] recomputes the commitments from the stored events and checks
//! them against the newest checkpoint with the [`PublicKey`] only. The exact encoding is
//! in `docs/integrity.md`, section 9, with test vectors.
//!
//! | file | holds |
//! |---|---|
//! | `keys` | [`SigningKey`], [`PublicKey`], [`write_key_pair`] |
//! | `commitment` | [`public_link`]: the public commitment |
//! | `checkpoint` | [`SignedCheckpoint`], [`ChainState`], [`signed_message`] |
//! | `rows` | one scan of the store per chain |
//! | `writer` | [`CheckpointWriter`], [`CheckpointSink`] |
//! | `verify` | [`verify_checkpoints`], [`CheckpointReport`], [`SignedBreak`] |

mod checkpoint;
mod commitment;
mod keys;
mod rows;
#[cfg(test)]
mod tests;
mod verify;
mod writer;

pub use checkpoint::{
    checkpoint_files, newest_checkpoint, signed_message, ChainState, SignedCheckpoint,
    CHECKPOINT_FORMAT,
};
pub use commitment::public_link;
pub use keys::{write_key_pair, PublicKey, SigningKey};
pub use verify::{verify_checkpoints, CheckpointReport, SignedBreak, MAX_LISTED};
pub use writer::{CheckpointSink, CheckpointWriter};
