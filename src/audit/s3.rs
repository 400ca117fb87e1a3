//! The artifacts under an S3 prefix: one paginated listing, classified as [`super::tree`] does
//! for a local folder. An artifact's identity is its key, ETag and size, all from the listing:
//! nothing is read to tell whether an object changed.

use std::path::PathBuf;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::tree::{self, Tree};
use super::{Artifact, Listing};
use crate::source::job::JobArtifact;
use crate::source::s3::{self, ObjectInfo, S3Location};

/// Every artifact under `target` (`s3://bucket/prefix/`; `s3://bucket/key` is the object
/// itself if there is one, else the prefix `key/`). `Err` says why the listing failed.
pub fn list(target: &str, job_artifacts: &[JobArtifact]) -> Result<Listing, String> {
    let location = S3Location::parse(target).map_err(|why| why.strip_prefix(&format!("{target}: ")).unwrap_or(&why).to_string())?;
    let client = s3::shared().map_err(|err| err.message)?;
    let mut objects = client.list(&location.bucket, &location.key).map_err(|err| err.message)?;
    let prefix = if location.is_prefix() {
        location.key.clone()
    } else if let Some(object) = objects.iter().find(|object| object.key == location.key) {
        let artifact = Artifact {
            path: PathBuf::from(location.to_string()),
            relative: ".".into(),
            kind: tree::archive_kind(&location.key),
            identity: object_identity(object),
            bytes: object.size,
        };
        return Ok(Listing { artifacts: vec![artifact], unlisted: Vec::new() });
    } else {
        let prefix = format!("{}/", location.key);
        objects.retain(|object| object.key.starts_with(&prefix));
        prefix
    };
    if objects.is_empty() {
        return Err(match location.is_prefix() {
            true => "no objects under the prefix".into(),
            false => format!("no such object, and no objects under s3://{}/{prefix}", location.bucket),
        });
    }
    let mut tree: Tree<ObjectInfo> = Tree::default();
    for object in objects {
        let relative = object.key[prefix.len()..].to_string();
        match relative.strip_suffix('/') {
            // A "folder" marker object (the console's Create folder).
            Some(folder) if !folder.is_empty() => tree.add_dir(folder),
            Some(_) => {}
            None if relative.is_empty() => {}
            None => tree.add_file(relative, object),
        }
    }
    let artifacts = tree
        .classify(job_artifacts)
        .into_iter()
        .map(|found| {
            if found.kind == "job" {
                let key = if found.relative == "." { prefix.clone() } else { format!("{prefix}{}/", found.relative) };
                let objects: Vec<&ObjectInfo> = tree.files_below(&found.relative).map(|(_, object)| object).collect();
                let bytes = objects.iter().map(|object| object.size).sum();
                let identity = prefix_identity(&key, &objects);
                Artifact { path: PathBuf::from(location.with_key(&key).to_string()), relative: found.relative, kind: found.kind, identity, bytes }
            } else {
                let object = &tree.files[&found.relative];
                let path = PathBuf::from(location.with_key(&object.key).to_string());
                Artifact { path, relative: found.relative, kind: found.kind, identity: object_identity(object), bytes: object.size }
            }
        })
        .collect();
    Ok(Listing { artifacts, unlisted: Vec::new() })
}

/// An object's identity: key, ETag and size.
fn object_identity(object: &ObjectInfo) -> serde_json::Value {
    json!({"key": object.key, "etag": object.etag, "size": object.size})
}

/// A job prefix's identity: its key, and the number, total size and a SHA-256 of the keys,
/// ETags and sizes of the objects under it (an uncompressed model may be thousands of them).
fn prefix_identity(key: &str, objects: &[&ObjectInfo]) -> serde_json::Value {
    let mut hasher = Sha256::new();
    for object in objects {
        hasher.update(format!("{}\0{}\0{}\n", object.key, object.etag.as_deref().unwrap_or(""), object.size).as_bytes());
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "key": key,
        "objects": objects.len(),
        "size": objects.iter().map(|object| object.size).sum::<u64>(),
        "objects_sha256": digest,
    })
}
