//! Writing the fixed archive: stream the input again and copy every kept member into a
//! [`TarWriter`] under its new name, with normalized modes and owners. The output appears
//! atomically when everything is written; the input is only read.

use std::collections::{HashMap, HashSet};
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use super::plan::Plan;
use crate::entry::{as_path, lossy, normalize_name, EntryKind};
use crate::source::archive;
use crate::source::members::Stop;
use crate::tarwriter::TarWriter;

/// gzip level of fixed archives: the SDK's own repack uses 9, which is slow on big models.
const LEVEL: u32 = 6;

/// What the rewrite itself changed beyond the plan.
#[derive(Debug, Default)]
pub struct Written {
    pub members: usize,
    /// Members whose permission bits became 0644/0755.
    pub modes: usize,
    /// Members whose owner was not root:root (uid/gid 0).
    pub owners: usize,
    /// Devices, FIFOs and sockets: not copied, a model cannot hold them.
    pub skipped: Vec<String>,
}

/// Files keep only "executable or not": 0755 or 0644. Folders are 0755.
fn normalized_mode(kind: EntryKind, mode: u32) -> u32 {
    match kind {
        EntryKind::File if mode & 0o100 != 0 => 0o755,
        EntryKind::File => 0o644,
        _ => 0o755,
    }
}

/// Write `plan` applied to the archive at `input` to `output`.
pub fn rewrite(input: &Path, output: &Path, plan: &Plan) -> io::Result<Written> {
    let mut writer = TarWriter::create(output, LEVEL)?;
    let mut written = Written::default();
    // Files that symlinks copy, spooled to disk: the link may come before its target.
    let mut spooled: HashMap<usize, (std::fs::File, u32)> = HashMap::new();
    let copied: HashSet<usize> = plan.copies.iter().map(|&(_, target)| target).collect();
    let mut members = archive::members(input)?;
    let mut index = 0;
    while let Some(member) = members.next_member().map_err(stopped)? {
        index += 1;
        let index = index - 1;
        let mode = member.mode;
        let owned_by_root = member.uid == 0 && member.gid == 0;
        if member.sparse.is_some() && (copied.contains(&index) || plan.kept.contains_key(&index)) {
            // Copying the stored segments would write a different file, and expanding the
            // holes is unbounded: refuse, as for damaged archives.
            let name = lossy(&member.name);
            return Err(io::Error::other(format!(
                "member `{name}` is a sparse file; optml fix does not rewrite sparse members (re-create the archive with tar -czf)"
            )));
        }
        if copied.contains(&index) {
            let mut spool = tempfile::tempfile()?;
            io::copy(&mut members.data(), &mut spool)?;
            spooled.insert(index, (spool, normalized_mode(EntryKind::File, mode)));
        }
        let Some(kept) = plan.kept.get(&index) else {
            continue;
        };
        // Names go out byte for byte (non-UTF-8 included); `lossy` is only for messages.
        let name = as_path(&kept.name);
        let new_mode = normalized_mode(kept.kind, mode);
        match kept.kind {
            EntryKind::Dir => writer.append_dir(name, new_mode)?,
            EntryKind::File => match spooled.get_mut(&index) {
                Some((spool, _)) => append_spooled(&mut writer, name, new_mode, spool)?,
                None => writer.append_file(name, new_mode, member.stored, &mut members.data())?,
            },
            EntryKind::Symlink => {
                let target = member.link.clone().unwrap_or_default();
                writer.append_symlink(name, as_path(&target))?;
            }
            EntryKind::Hardlink => {
                let target = member.link.as_deref().map(|t| normalize_name(t).name).unwrap_or_default();
                let target = plan.renamed.get(&target).cloned().unwrap_or(target);
                writer.append_hardlink(name, as_path(&target))?;
            }
            _ => {
                written.skipped.push(lossy(&kept.name));
                continue;
            }
        }
        if kept.kind != EntryKind::Symlink && kept.kind != EntryKind::Hardlink {
            count(&mut written, mode, new_mode, owned_by_root);
        } else {
            written.members += 1;
        }
    }
    for (name, target) in &plan.copies {
        if let Some((spool, file_mode)) = spooled.get_mut(target) {
            append_spooled(&mut writer, as_path(name), *file_mode, spool)?;
            written.members += 1;
        }
    }
    writer.finish()?;
    Ok(written)
}

/// The archive read cleanly during the check; reading it again can still fail (it changed).
fn stopped(stop: Stop) -> io::Error {
    match stop {
        Stop::Io(err) => err,
        other => io::Error::other(format!("the archive cannot be read again: {other:?}")),
    }
}

/// Append a spooled file's bytes as `name`, reading it from the start (it may be copied again).
fn append_spooled(writer: &mut TarWriter, name: &Path, mode: u32, spool: &mut std::fs::File) -> io::Result<()> {
    spool.seek(SeekFrom::Start(0))?;
    let size = spool.metadata()?.len();
    writer.append_file(name, mode, size, &mut *spool)
}

fn count(written: &mut Written, old_mode: u32, new_mode: u32, owned_by_root: bool) {
    written.members += 1;
    written.modes += usize::from(old_mode != new_mode);
    written.owners += usize::from(!owned_by_root);
}
