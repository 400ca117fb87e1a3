//! Layout: which zone of the /opt/ml contract each entry is in. Zones and archive mappings are
//! data (`rules/layout.toml`); this module only applies them.

use crate::entry::{as_path, file_name, strip_prefix};
use crate::glob::{compile_glob, Globs, LazyGlobSet};
use crate::source::job::JobArtifact;
use crate::source::{Role, Subject};

#[derive(Debug)]
pub struct Zone {
    pub name: String,
    /// Directory (relative to /opt/ml) that rule paths in this zone are relative to.
    pub root: Vec<u8>,
    pub description: String,
}

/// How members of a model or output archive (or folder) map into /opt/ml.
#[derive(Debug)]
pub struct ArchiveMapping {
    pub role: Role,
    pub flavour: String,
    pub prefix: Vec<u8>,
    /// Applies when a top-level member matches; `None` marks the fallback flavour.
    pub detect: Option<LazyGlobSet>,
    pub covers: Vec<usize>,
    pub description: String,
}

#[derive(Debug, Default)]
pub struct Layout {
    pub zones: Vec<Zone>,
    /// One glob set over every zone's paths; `classifier_zone[i]` is the zone of glob `i`.
    classifier: Globs,
    classifier_zone: Vec<usize>,
    pub mappings: Vec<ArchiveMapping>,
    pub job_artifacts: Vec<JobArtifact>,
}

/// Where one origin of a subject landed.
#[derive(Debug, Clone)]
pub struct Placement {
    pub flavour: String,
    pub prefix: Vec<u8>,
    pub covers: Vec<usize>,
}

/// The layout stage's result for one subject.
#[derive(Debug)]
pub struct Placed {
    pub origins: Vec<Placement>,
    /// Zones some origin of the subject holds (rules about other zones are skipped).
    pub covered: Vec<bool>,
}

impl Placed {
    pub fn covers(&self, zone: usize) -> bool {
        self.covered.get(zone).copied().unwrap_or(false)
    }
}

/// Builds a [`Layout`] from zone and mapping definitions (already validated by the engine).
#[derive(Default)]
pub struct LayoutBuilder {
    layout: Layout,
    /// Every zone's globs, checked, with the zone of each.
    zone_globs: Vec<(String, usize)>,
}

impl LayoutBuilder {
    pub fn zone_index(&self, name: &str) -> Option<usize> {
        self.layout.zones.iter().position(|zone| zone.name == name)
    }

    /// Add a zone; its globs are checked after every zone added before it.
    pub fn add_zone(&mut self, zone: Zone, globs: &[String]) -> Result<(), globset::Error> {
        let index = self.layout.zones.len();
        for glob in globs {
            compile_glob(glob)?;
            self.zone_globs.push((glob.clone(), index));
        }
        self.layout.zones.push(zone);
        Ok(())
    }

    pub fn add_mapping(&mut self, mapping: ArchiveMapping) {
        self.layout.mappings.push(mapping);
    }

    pub fn add_job_artifact(&mut self, artifact: JobArtifact) {
        self.layout.job_artifacts.push(artifact);
    }

    pub fn build(mut self) -> Result<Layout, globset::Error> {
        // A path no glob matches lands in the last zone, so that zone's own globs change no
        // result; leaving them out spares every entry the catch-all `**`.
        let catch_all = self.layout.zones.len().saturating_sub(1);
        let mut classifier = Vec::new();
        for (glob, zone) in self.zone_globs.into_iter().filter(|&(_, zone)| zone != catch_all) {
            classifier.push(glob);
            self.layout.classifier_zone.push(zone);
        }
        self.layout.classifier = Globs::new(&classifier, compile_glob)?;
        Ok(self.layout)
    }
}

impl Layout {
    /// The first zone whose globs match `path`; the last zone is the catch-all. `matches` is
    /// scratch space, reused across entries so classifying a million entries allocates once.
    fn classify(&self, path: &[u8], matches: &mut Vec<usize>) -> usize {
        self.classifier.matches_into(as_path(path), matches);
        matches.first().map(|&glob| self.classifier_zone[glob]).unwrap_or(self.zones.len().saturating_sub(1))
    }

    /// Every /opt/ml prefix a member of an origin with `role` could land under (asked for every
    /// file while streaming, so nothing is collected). No mapping has the /opt/ml role.
    pub fn candidate_prefixes(&self, role: Role) -> impl Iterator<Item = &[u8]> + '_ {
        let root = (role == Role::OptMl).then_some(&b""[..]);
        root.into_iter().chain(self.mappings.iter().filter(move |m| m.role == role).map(|m| m.prefix.as_slice()))
    }

    /// Map every entry of `subject` into /opt/ml (`entry.path`) and its zone (`entry.zone()`).
    pub fn place(&self, subject: &mut Subject) -> Placed {
        let all_zones: Vec<usize> = (0..self.zones.len()).collect();
        let origins: Vec<Placement> = subject
            .origins
            .iter()
            .enumerate()
            .map(|(index, origin)| match origin.role {
                Role::OptMl => Placement { flavour: "tree".into(), prefix: Vec::new(), covers: all_zones.clone() },
                role => {
                    let top_level = subject.entries.iter().filter(|e| e.origin() == index).map(|e| e.member().split(|&b| b == b'/').next().unwrap_or(&[]));
                    self.pick_mapping(role, top_level)
                }
            })
            .collect();
        let mut covered = vec![false; self.zones.len()];
        for placement in &origins {
            for &zone in &placement.covers {
                covered[zone] = true;
            }
        }
        crate::parts::map_mut(&mut subject.entries, |_, entries| {
            let mut matches = Vec::new();
            for entry in entries {
                entry.place_under(&origins[entry.origin()].prefix);
                entry.set_zone(self.classify(entry.path(), &mut matches));
            }
        });
        Placed { origins, covered }
    }

    fn pick_mapping<'a>(&self, role: Role, top_level: impl Iterator<Item = &'a [u8]>) -> Placement {
        let candidates: Vec<&ArchiveMapping> = self.mappings.iter().filter(|m| m.role == role).collect();
        let names: Vec<&[u8]> = top_level.collect();
        let chosen = candidates
            .iter()
            .find(|m| m.detect.as_ref().is_some_and(|set| names.iter().any(|n| set.is_match(as_path(n)))))
            .or_else(|| candidates.iter().find(|m| m.detect.is_none()));
        match chosen {
            Some(m) => Placement { flavour: m.flavour.clone(), prefix: m.prefix.clone(), covers: m.covers.clone() },
            None => Placement { flavour: role.as_str().into(), prefix: Vec::new(), covers: Vec::new() },
        }
    }

    /// The path of `path` relative to `zone`'s root, if it lies inside it.
    pub fn zone_relative<'p>(&self, zone: usize, path: &'p [u8]) -> Option<&'p [u8]> {
        strip_prefix(path, &self.zones[zone].root)
    }
}

/// The top-level folder every entry of `members` sits in, if there is exactly one and it
/// holds something (AppleDouble and `.DS_Store` litter beside it is ignored).
pub fn single_folder<'a>(members: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut folder = SingleFolder::default();
    for member in members {
        folder.push(member);
    }
    folder.result()
}

/// [`single_folder`] fed one member at a time, so the evaluator can compute it in its one pass
/// over the entries.
#[derive(Debug, Default)]
pub struct SingleFolder {
    folder: Option<Vec<u8>>,
    has_child: bool,
    /// Two different top-level names were seen: there is no single folder.
    mixed: bool,
}

impl SingleFolder {
    pub fn push(&mut self, member: &[u8]) {
        if self.mixed {
            return;
        }
        let name = file_name(member);
        let top = member.split(|&b| b == b'/').next().unwrap_or(member);
        if !member.contains(&b'/') && (name.starts_with(b"._") || name == b".DS_Store") {
            return;
        }
        match &self.folder {
            None => self.folder = Some(top.to_vec()),
            Some(existing) if existing == top => {}
            Some(_) => {
                self.mixed = true;
                return;
            }
        }
        if member.len() > top.len() {
            self.has_child = true;
        }
    }

    /// Add what followed the members of this one.
    pub fn merge(&mut self, later: SingleFolder) {
        match (&self.folder, later.folder) {
            (_, None) => {}
            (None, folder) => self.folder = folder,
            (Some(existing), Some(folder)) => self.mixed |= *existing != folder,
        }
        self.mixed |= later.mixed;
        self.has_child |= later.has_child;
    }

    pub fn result(self) -> Option<Vec<u8>> {
        self.folder.filter(|_| self.has_child && !self.mixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_folder_ignores_mac_litter() {
        let members: Vec<&[u8]> = vec![b"model", b"model/a.pt", b"._model", b".DS_Store"];
        assert_eq!(single_folder(members.into_iter()), Some(b"model".to_vec()));
    }

    #[test]
    fn two_top_levels_are_not_wrapped() {
        let members: Vec<&[u8]> = vec![b"model/a.pt", b"code/inference.py"];
        assert_eq!(single_folder(members.into_iter()), None);
    }

    #[test]
    fn a_second_top_level_is_not_forgotten() {
        let mut folder = SingleFolder::default();
        for member in [&b"a/x"[..], b"b/y", b"a/z"] {
            folder.push(member);
        }
        assert_eq!(folder.result(), None);
    }

    #[test]
    fn a_lone_file_is_not_a_folder() {
        let members: Vec<&[u8]> = vec![b"model.pt"];
        assert_eq!(single_folder(members.into_iter()), None);
    }
}
