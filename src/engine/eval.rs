//! Evaluates compiled rules over a placed subject. Pure: entries in, findings out.

use std::collections::{BTreeMap, HashSet};

use super::index::{match_frame, Owner, Tally};
use super::presence::Presence;
use super::rule::{Check, Field, Filter, Grep, Phase, Rule, Table, When};
use super::Ruleset;
use crate::entry::{as_path, file_name, join, lossy, strip_prefix, Entry};
use crate::finding::{Finding, Overflow, Part};
use crate::layout::Placed;
use crate::source::ziptail::ZipLook;
use crate::source::Subject;
use crate::units::human_size;

/// Values a message, help or fix template can use (`{path}`, `{count}`, ...).
#[derive(Default)]
pub struct Vars {
    values: BTreeMap<&'static str, String>,
}

impl Vars {
    pub fn set(&mut self, key: &'static str, value: impl Into<String>) -> &mut Vars {
        self.values.insert(key, value.into());
        self
    }

    /// Fill `{key}` placeholders in one pass: a value is never scanned again, so a member named
    /// `{zone}` stays as named. Unknown placeholders are kept as written.
    pub fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let value = after.find('}').and_then(|close| Some((self.values.get(&after[..close])?, close)));
            match value {
                Some((value, close)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

struct Evaluator<'a> {
    ruleset: &'a Ruleset,
    subject: &'a Subject,
    placed: &'a Placed,
    phase: Phase,
    findings: Vec<Finding>,
    /// Per rule: findings created so far, and whether findings beyond the ruleset's limit may be
    /// counted instead of kept (not when `supersedes` relates the rule to another: dropping a
    /// superseded finding needs the finding).
    created: Vec<usize>,
    countable: Vec<bool>,
    overflow: Vec<Overflow>,
}

/// Run the rules of `ruleset` that are `enabled` (one flag per rule; missing flags, e.g. an
/// empty slice, mean enabled) over `subject`, the sets of their conditions found in `presence`.
/// Findings of one rule beyond [`Ruleset::kept_per_rule`] are counted, not kept: the second list.
pub fn evaluate(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, enabled: &[bool], presence: &Presence) -> (Vec<Finding>, Vec<Overflow>) {
    // Only rules that run can supersede.
    let runs = |index: usize| enabled.get(index).copied().unwrap_or(true);
    let superseded: HashSet<&str> =
        ruleset.rules.iter().enumerate().filter(|&(index, _)| runs(index)).flat_map(|(_, rule)| rule.supersedes.iter().map(String::as_str)).collect();
    let countable = ruleset.rules.iter().map(|rule| rule.supersedes.is_empty() && !superseded.contains(rule.code.as_str())).collect();
    let mut evaluator =
        Evaluator { ruleset, subject, placed, phase, findings: Vec::new(), created: vec![0; ruleset.rules.len()], countable, overflow: Vec::new() };
    let live: Vec<bool> = ruleset.rules.iter().enumerate().map(|(index, rule)| runs(index) && evaluator.applies(rule, presence)).collect();
    let tallies = evaluator.tally(&live);
    for ((index, rule), tally) in ruleset.rules.iter().enumerate().zip(tallies) {
        if live[index] {
            evaluator.run(index, rule, tally);
        }
    }
    let mut findings = one_cause_one_finding(ruleset, evaluator.findings);
    if !ruleset.path_ignores.is_empty() {
        findings.retain(|finding| !ruleset.path_ignored(finding.rule, &finding.path()));
    }
    (findings, evaluator.overflow)
}

/// Drop findings that a rule's `supersedes` replaces: same input, and the same entry, one above
/// or below it, or the input as a whole (a wrapper folder explains "no model.pt at the root").
fn one_cause_one_finding(ruleset: &Ruleset, findings: Vec<Finding>) -> Vec<Finding> {
    let related = |a: &str, b: &str| {
        let below = |inner: &str, outer: &str| outer.is_empty() || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'));
        a == b || below(a, b) || below(b, a)
    };
    // Few findings come from rules that supersede others: compare against those only.
    let superseding: Vec<(&Finding, String)> =
        findings.iter().filter(|other| !ruleset.rules[other.rule].supersedes.is_empty()).map(|other| (other, other.path())).collect();
    if superseding.is_empty() {
        return findings;
    }
    let replaced: Vec<bool> = findings
        .iter()
        .map(|finding| {
            let path = finding.path();
            superseding.iter().any(|(other, other_path)| {
                other.input == finding.input && ruleset.rules[other.rule].supersedes.iter().any(|code| code == &finding.code) && related(&path, other_path)
            })
        })
        .collect();
    findings.into_iter().zip(replaced).filter(|(_, replaced)| !replaced).map(|(finding, _)| finding).collect()
}

/// Whether some entry whose /opt/ml path matches the grep's globs has content matching its
/// regex and field test.
fn grep_finds(grep: &Grep, subject: &Subject, tables: &[Table]) -> bool {
    // Only captured entries have content: test those few against the globs.
    let captured = subject.entries.iter().filter_map(|e| e.content().map(|content| (e, content)));
    captured.filter(|(e, _)| grep.paths.set.is_match(as_path(e.path()))).any(|(e, content)| {
        let text = content.text();
        grep.regex.as_ref().is_none_or(|re| re.is_match(&text))
            && grep.field.as_ref().is_none_or(|field| field_holds(field, &text, tables, parent_name(e.path())))
    })
}

/// The values at a field's key in `text`; `None` when the text is not valid in its format.
pub fn field_values(field: &Field, text: &str) -> Option<Vec<String>> {
    crate::fields::values(field.format, text, &field.key)
}

/// The name of the folder a path is in ("" at the top).
fn parent_name(path: &[u8]) -> &[u8] {
    file_name(&path[..path.iter().rposition(|&b| b == b'/').unwrap_or(0)])
}

/// Whether a file's `text` passes a field test. Unreadable text (invalid JSON) passes none.
fn field_holds(field: &Field, text: &str, tables: &[Table], folder: &[u8]) -> bool {
    let Some(values) = field_values(field, text) else {
        return false;
    };
    if field.equals_folder.is_some_and(|equal| values.is_empty() || values.iter().any(|v| v.as_bytes() == folder) != equal) {
        return false;
    }
    if field.present.is_some_and(|present| values.is_empty() == present) {
        return false;
    }
    let any = |test: &dyn Fn(&str) -> bool| values.iter().any(|v| test(v));
    if field.matches.as_ref().is_some_and(|re| !any(&|v| re.is_match(v))) {
        return false;
    }
    if field.not_matches.as_ref().is_some_and(|re| any(&|v| re.is_match(v))) {
        return false;
    }
    if field.in_table.is_some_and(|t| !any(&|v| tables[t].lookup(v).is_some())) {
        return false;
    }
    // Not in the table: no value is in it, also when the key is absent (a lookup of nothing
    // fails); add `present = true` to require the key.
    if field.not_in_table.is_some_and(|t| any(&|v| tables[t].lookup(v).is_some())) {
        return false;
    }
    true
}

/// Whether a rule's (or a plan step's) `when` holds for this subject.
pub fn when_holds(ruleset: &Ruleset, subject: &Subject, placed: &Placed, phase: Phase, presence: &Presence, when: &When) -> bool {
    if when.inputs.as_ref().is_some_and(|inputs| !inputs.contains(&subject.kind)) {
        return false;
    }
    if when.phases.as_ref().is_some_and(|phases| !phases.contains(&phase)) {
        return false;
    }
    if let Some(flavours) = &when.flavours {
        if !placed.origins.iter().any(|o| flavours.contains(&o.flavour)) {
            return false;
        }
    }
    if !when.exists.iter().all(|set| presence.any(set, &subject.entries)) {
        return false;
    }
    if when.missing.as_ref().is_some_and(|set| presence.any(set, &subject.entries)) {
        return false;
    }
    if when.contains.as_ref().is_some_and(|grep| !grep_finds(grep, subject, &ruleset.tables)) {
        return false;
    }
    if when.lacks.as_ref().is_some_and(|grep| grep_finds(grep, subject, &ruleset.tables)) {
        return false;
    }
    if !when.env_set.iter().all(|name| ruleset.env_var(name).is_some()) {
        return false;
    }
    if when.env_unset.iter().any(|name| ruleset.env_var(name).is_some()) {
        return false;
    }
    when.env.iter().all(|test| test.holds(ruleset.env_var(&test.name)))
}

impl<'a> Evaluator<'a> {
    fn applies(&self, rule: &Rule, presence: &Presence) -> bool {
        if !when_holds(self.ruleset, self.subject, self.placed, self.phase, presence, &rule.when) {
            return false;
        }
        // A rule about zones applies only where the input holds one of them.
        rule.zones.is_empty() || rule.zones.iter().any(|&z| self.placed.covers(z))
    }

    /// Zones the rule looks in on this subject; `None` for a zone-less (root-relative) rule.
    fn zones(&self, rule: &Rule) -> Option<Vec<usize>> {
        (!rule.zones.is_empty()).then(|| rule.zones.iter().copied().filter(|&z| self.placed.covers(z)).collect())
    }

    /// An entry's path relative to the rule's frame (`zones`, from [`Evaluator::zones`]): its
    /// zone root, or the /opt/ml root.
    fn relative<'e>(&self, zones: Option<&[usize]>, entry: &'e Entry) -> Option<&'e [u8]> {
        match zones {
            None => Some(entry.path()),
            // The zone's own root folder (`model`, `output/data`) is not *in* the zone.
            Some(zones) => {
                zones.contains(&entry.zone()).then(|| self.ruleset.layout.zone_relative(entry.zone(), entry.path())).flatten().filter(|rel| !rel.is_empty())
            }
        }
    }

    /// One pass over the entries for every `live` rule: each entry is matched once against
    /// the root frame's globs and once against its zone's, and the rules whose frame holds it
    /// and whose `where` and `except` it passes record it in their [`Tally`].
    fn tally(&self, live: &[bool]) -> Vec<Tally> {
        let rules = &self.ruleset.rules;
        let index = self.ruleset.rule_index(live);
        let fresh = || -> Vec<Tally> { rules.iter().map(|rule| Tally::new(rule, &self.zones(rule).unwrap_or_default())).collect() };
        if !live.iter().any(|&on| on) {
            return fresh();
        }
        let mut parts = crate::parts::map(&self.subject.entries, |offset, entries| {
            let mut tallies = fresh();
            // Per rule, the visit (entry and frame) in which it last matched a path / an except glob.
            let mut matched_at = vec![usize::MAX; rules.len()];
            let mut excepted_at = vec![usize::MAX; rules.len()];
            let (mut globs, mut hits, mut visits) = (Vec::new(), Vec::new(), Vec::new());
            let mut visit = 0;
            for (at, entry) in (offset..).zip(entries) {
                let zone_frame = (self.placed.covers(entry.zone()))
                    .then(|| self.ruleset.layout.zone_relative(entry.zone(), entry.path()))
                    .flatten()
                    .filter(|rel| !rel.is_empty())
                    .and_then(|rel| Some((index.frames.get(entry.zone() + 1)?, rel)));
                let root_frame = index.frames.first().map(|frame| (frame, entry.path()));
                for (frame, rel) in root_frame.into_iter().chain(zone_frame) {
                    if frame.owners.is_empty() && frame.every.is_empty() {
                        continue;
                    }
                    visit += 1;
                    match_frame(frame, rel, &mut globs, &mut hits);
                    visits.clear();
                    for owner in &hits {
                        match *owner {
                            Owner::Path { rule, .. } if matched_at[rule] != visit => {
                                matched_at[rule] = visit;
                                visits.push(rule);
                            }
                            Owner::Path { .. } => {}
                            Owner::Except { rule } => excepted_at[rule] = visit,
                        }
                    }
                    visits.extend(frame.every.iter().filter(|&&rule| matched_at[rule] != visit));
                    for &rule in &visits {
                        // `where` filters first (field tests, then content), the except globs were matched above.
                        if !live[rule] || excepted_at[rule] == visit || !passes(&rules[rule].filter, entry, rel, &self.ruleset.tables) {
                            continue;
                        }
                        tallies[rule].add(rule, &rules[rule], at, entry.kind, entry.zone(), rel, matched_at[rule] == visit, &hits);
                    }
                }
            }
            tallies
        });
        let mut tallies = parts.remove(0);
        for part in parts {
            for (tally, later) in tallies.iter_mut().zip(part) {
                tally.merge(later);
            }
        }
        tallies
    }

    fn entries(&self, indexes: &[u32]) -> Vec<&'a Entry> {
        let entries = &self.subject.entries;
        indexes.iter().map(|&i| &entries[i as usize]).collect()
    }

    fn run(&mut self, index: usize, rule: &'a Rule, tally: Tally) {
        match &rule.check {
            Check::Forbid | Check::AllowOnly => {
                let entries = self.entries(&tally.entries);
                self.per_entry(index, rule, entries);
            }
            Check::Require => {
                let paths = rule.paths.as_ref().expect("validated: require has paths");
                for (pattern, found) in paths.patterns.iter().zip(&tally.found) {
                    if !found {
                        let mut vars = Vars::default();
                        vars.set("pattern", pattern.clone());
                        let at = self.frame_path(rule, pattern.as_bytes());
                        self.emit_at(index, rule, &at, vars);
                    }
                }
            }
            Check::RequireAny => {
                let paths = rule.paths.as_ref().expect("validated: require-any has paths");
                if !tally.any {
                    let mut vars = Vars::default();
                    vars.set("pattern", paths.patterns.join(" or "));
                    let at = self.frame_path(rule, b"");
                    self.emit_at(index, rule, &at, vars);
                }
            }
            Check::Count { min, max, top_folders } => {
                let mut matched = self.entries(&tally.entries);
                if *top_folders {
                    // One entry per top-level folder: the first match below (or of) it.
                    let zones = self.zones(rule);
                    let mut seen: HashSet<Vec<u8>> = HashSet::new();
                    matched.retain(|entry| {
                        let rel = self.relative(zones.as_deref(), entry).unwrap_or(entry.path());
                        let top = rel.split(|&b| b == b'/').next().unwrap_or(rel);
                        let is_folder = rel.len() > top.len() || entry.kind == crate::entry::EntryKind::Dir;
                        is_folder && seen.insert(top.to_vec())
                    });
                }
                let count = matched.len() as u64;
                if min.is_some_and(|min| count < min) || max.is_some_and(|max| count > max) {
                    let mut vars = Vars::default();
                    let names: Vec<String> = matched
                        .iter()
                        .take(5)
                        .map(|e| if *top_folders { lossy(e.member().split(|&b| b == b'/').next().unwrap_or(e.member())) } else { lossy(e.member()) })
                        .collect();
                    let listed = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                    vars.set("count", count.to_string()).set("pattern", listed);
                    let at = self.frame_path(rule, b"");
                    self.emit_at(index, rule, &at, vars);
                }
            }
            Check::NonEmpty => {
                if !tally.any {
                    let at = self.frame_path(rule, b"");
                    self.emit_at(index, rule, &at, Vars::default());
                }
            }
            Check::SingleFolder => {
                for (zone, folder) in tally.folders {
                    if let Some(wrapper) = folder.result() {
                        let at = join(&self.ruleset.layout.zones[zone].root, &wrapper);
                        let mut vars = Vars::default();
                        vars.set("wrapper", lossy(&wrapper));
                        self.emit_at(index, rule, &at, vars);
                    }
                }
            }
            Check::Problem(kind) => {
                for (origin_index, origin) in self.subject.origins.iter().enumerate() {
                    for problem in origin.problems.iter().filter(|p| p.kind == *kind) {
                        let mut vars = Vars::default();
                        vars.set("detail", problem.detail.clone());
                        self.emit(index, rule, origin_index, &problem.path, vars);
                    }
                }
            }
            Check::JsonKeys { file, key_path } => self.json_keys(index, rule, file, key_path, &tally.entries),
            Check::External => {}
        }
    }

    /// The /opt/ml path of `rel` in the rule's first covered zone (or the root).
    fn frame_path(&self, rule: &Rule, rel: &[u8]) -> Vec<u8> {
        match self.zones(rule).and_then(|zones| zones.first().copied()) {
            Some(zone) => join(&self.ruleset.layout.zones[zone].root, rel),
            None => rel.to_vec(),
        }
    }

    /// One finding per entry, but not for entries below one already reported (a 500-file
    /// `checkpoint-500/` folder is one finding).
    fn per_entry(&mut self, index: usize, rule: &Rule, mut entries: Vec<&Entry>) {
        entries.sort_by(|a, b| (a.origin(), a.path()).cmp(&(b.origin(), b.path())));
        let mut reported: HashSet<(usize, &[u8])> = HashSet::new();
        for entry in entries {
            let path = entry.path();
            let below_reported = path.iter().enumerate().filter(|(_, &b)| b == b'/').any(|(i, _)| reported.contains(&(entry.origin(), &path[..i])));
            // A member stored twice is one cause (SM509 reports the duplicate): report it once.
            if below_reported || !reported.insert((entry.origin(), path)) {
                continue;
            }
            let vars = self.entry_vars(rule, entry);
            self.emit(index, rule, entry.origin(), entry.member(), vars);
        }
    }

    fn entry_vars(&self, rule: &Rule, entry: &Entry) -> Vars {
        let mut vars = Vars::default();
        vars.set("size", human_size(entry.size));
        if let Some(target) = entry.link_target() {
            vars.set("target", lossy(target));
        }
        if let Some(content) = entry.content() {
            let text = content.text();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            let line: String = line.chars().take(200).collect();
            vars.set("first_line", line);
            if let Some(field) = &rule.filter.field {
                let values = field_values(field, &text).unwrap_or_default();
                vars.set("field", values.first().cloned().unwrap_or_else(|| "(none)".into()));
            }
            // `{match}`: the line where the rule's content pattern matched (the offending line).
            if let Some(found) = rule.filter.content.matches.as_ref().and_then(|re| re.find(&text)) {
                let start = text[..found.start()].rfind('\n').map_or(0, |i| i + 1);
                let end = text[found.start()..].find('\n').map_or(text.len(), |i| found.start() + i);
                vars.set("match", text[start..end].trim().chars().take(200).collect::<String>());
            }
        }
        let name = file_name(entry.member());
        let hint = rule.hints.iter().find(|h| h.names.is_match(as_path(name))).map(|h| h.text.clone());
        vars.set("hint", hint.unwrap_or_default());
        vars
    }

    /// Emit a finding about a /opt/ml path that may have no entry (a missing file).
    fn emit_at(&mut self, index: usize, rule: &Rule, path: &[u8], vars: Vars) {
        // Report it in the origin whose mapping holds the path (the longest prefix wins).
        let mut best: Option<(usize, usize)> = None;
        for (i, placement) in self.placed.origins.iter().enumerate() {
            if strip_prefix(path, &placement.prefix).is_some() && best.is_none_or(|(_, len)| placement.prefix.len() > len) {
                best = Some((i, placement.prefix.len()));
            }
        }
        match best {
            Some((origin, _)) => {
                let member = strip_prefix(path, &self.placed.origins[origin].prefix).unwrap_or(path).to_vec();
                self.emit(index, rule, origin, &member, vars);
            }
            None => self.emit(index, rule, 0, path, vars),
        }
    }

    fn emit(&mut self, index: usize, rule: &Rule, origin_index: usize, member: &[u8], mut vars: Vars) {
        let subject = self.subject;
        let origin = &subject.origins[origin_index.min(subject.origins.len().saturating_sub(1))];
        if self.created[index] >= self.ruleset.kept_per_rule && self.countable[index] {
            self.count_beyond_limit(index, rule, &origin.path_prefix, member);
            return;
        }
        self.created[index] += 1;
        let shown = lossy(member);
        let archive = origin.fs_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| subject.input.clone());
        let name = shown.rsplit('/').next().unwrap_or("").to_string();
        vars.set("path", if shown.is_empty() { archive.clone() } else { shown });
        vars.set("name", name);
        vars.set("archive", archive);
        vars.set("archive_path", shell_quote(&origin.fs_path.to_string_lossy()));
        vars.set("input", subject.input.clone());
        let zone_name = rule.zones.first().map(|&z| self.ruleset.layout.zones[z].name.clone()).unwrap_or_default();
        vars.set("zone", zone_name);
        let finding = self.ruleset.finding(index, &subject.input, Some(Part::of(origin)), member.to_vec(), &vars);
        self.findings.push(finding);
    }

    /// A finding past the rule's limit: counted as it would have been reported (per-path
    /// ignores apply), never rendered.
    fn count_beyond_limit(&mut self, index: usize, rule: &Rule, prefix: &str, member: &[u8]) {
        if !self.ruleset.path_ignores.is_empty() && self.ruleset.path_ignored(index, &lossy(&join(prefix.as_bytes(), member))) {
            return;
        }
        match self.overflow.iter_mut().find(|more| more.rule == index) {
            Some(more) => more.count += 1,
            None => self.overflow.push(Overflow { rule: index, code: rule.code.clone(), severity: rule.severity, count: 1 }),
        }
    }

    fn json_keys(&mut self, index: usize, rule: &'a Rule, file: &[u8], key_path: &str, matched: &[u32]) {
        let Some(entry) = self.subject.entries.iter().find(|e| e.path() == file) else {
            return;
        };
        let Some(content) = entry.content() else {
            return;
        };
        let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(&content.bytes) else {
            return;
        };
        for key in object.keys() {
            let expected = key_path.replace("{key}", key).into_bytes();
            // Pipe mode: a channel is a series of FIFOs `<channel>_<epoch>`.
            let pipe_prefix = [expected.as_slice(), b"_"].concat();
            let present = self.subject.entries.iter().any(|e| {
                e.path() == expected
                    || e.path().strip_prefix(pipe_prefix.as_slice()).is_some_and(|epoch| !epoch.is_empty() && epoch.iter().all(u8::is_ascii_digit))
            });
            if !present {
                let mut vars = Vars::default();
                vars.set("key", key.clone());
                self.emit_at(index, rule, &expected, vars);
            }
        }
        // The other direction: entries that should be keys (channel folders nobody declared).
        for entry in self.entries(matched) {
            let name = lossy(file_name(entry.member()));
            let bare = name.rsplit_once('_').filter(|(_, epoch)| epoch.chars().all(|c| c.is_ascii_digit())).map(|(b, _)| b);
            if !object.contains_key(&name) && !bare.is_some_and(|b| object.contains_key(b)) {
                let mut vars = self.entry_vars(rule, entry);
                vars.set("key", name);
                self.emit(index, rule, entry.origin(), entry.member(), vars);
            }
        }
    }
}

/// Whether an entry (at `rel` in the rule's frame) passes a rule's `where` filters.
pub fn passes(filter: &Filter, entry: &Entry, rel: &[u8], tables: &[Table]) -> bool {
    if filter.kinds.as_ref().is_some_and(|kinds| !kinds.contains(&entry.kind)) {
        return false;
    }
    if filter.size_min.is_some_and(|min| entry.size < min) || filter.size_max.is_some_and(|max| entry.size > max) {
        return false;
    }
    if filter.mode_any.is_some_and(|bits| entry.mode & bits == 0) {
        return false;
    }
    let flags = [
        (filter.link_escapes, entry.link_escapes),
        (filter.absolute, entry.absolute),
        (filter.parent_dir, entry.parent_dir),
        (filter.invalid_name, entry.invalid_name),
        (filter.duplicate, entry.duplicate),
        (filter.name_clash, entry.name_clash),
    ];
    if flags.iter().any(|(wanted, actual)| wanted.is_some_and(|w| w != *actual)) {
        return false;
    }
    if filter.name_matches.as_ref().is_some_and(|re| !re.is_match(&String::from_utf8_lossy(file_name(entry.member())))) {
        return false;
    }
    if filter.path_matches.is_some() || filter.path_not_matches.is_some() {
        let rel_text = String::from_utf8_lossy(rel);
        if filter.path_matches.as_ref().is_some_and(|re| !re.is_match(&rel_text)) || filter.path_not_matches.as_ref().is_some_and(|re| re.is_match(&rel_text)) {
            return false;
        }
    }
    if let Some(globs) = &filter.zip_missing {
        let lacks_one = match entry.zip() {
            Some(ZipLook::NotZip) => true,
            Some(ZipLook::Members(names)) => (0..globs.patterns.len()).any(|i| !names.iter().any(|n| globs.set.matches(as_path(n)).contains(&i))),
            Some(ZipLook::Unsure(_)) | None => false,
        };
        if !lacks_one {
            return false;
        }
    }
    if filter.zip_unsure.is_some_and(|unsure| matches!(entry.zip(), Some(ZipLook::Unsure(_))) != unsure) {
        return false;
    }
    if let Some(field) = &filter.field {
        match entry.content() {
            Some(captured) if !captured.truncated && field_holds(field, &captured.text(), tables, parent_name(entry.path())) => {}
            _ => return false,
        }
    }
    let content = &filter.content;
    if !content.is_active() {
        return true;
    }
    // Content filters need captured content; entries without it (too big, not a file) never match.
    let Some(captured) = entry.content() else {
        return false;
    };
    let text = captured.text();
    if content.empty.is_some_and(|empty| text.trim().is_empty() != empty) {
        return false;
    }
    if let Some(limit) = content.longer_than {
        // A capture cut at the limit means the file is longer than anything we could count.
        if !captured.truncated && text.chars().count() <= limit {
            return false;
        }
    }
    if let Some(valid) = content.json {
        if captured.truncated || serde_json::from_slice::<serde_json::Value>(&captured.bytes).is_ok() != valid {
            return false;
        }
    }
    if content.matches.as_ref().is_some_and(|re| !re.is_match(&text)) {
        return false;
    }
    if content.not_matches.as_ref().is_some_and(|re| re.is_match(&text)) {
        return false;
    }
    true
}

/// `text` as one shell word: as is when it is made of safe characters, else single-quoted.
fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./+:@%,=".contains(&b));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::builtin::LAYOUT;
    use crate::engine::load::{load, PackText};
    use crate::entry::{Entry, EntryKind};
    use crate::source::{InputKind, Origin, Role, Subject};

    fn ruleset(rules: &str) -> Ruleset {
        let pack = format!("[pack]\nname = \"test\"\ndescription = \"unit test\"\n{rules}");
        load(vec![LAYOUT.text(), PackText { file: "test.toml".into(), text: pack, builtin: false }]).expect("valid rules")
    }

    fn tree(paths: &[(&str, EntryKind)]) -> Subject {
        let origin = Origin::tree("/opt/ml".into(), Role::OptMl);
        let entries = paths.iter().map(|(p, kind)| Entry::new(p.as_bytes().to_vec(), *kind)).collect();
        Subject { input: "/opt/ml".into(), kind: InputKind::Tree, origins: vec![origin], entries }
    }

    fn run(rules: &Ruleset, subject: &mut Subject) -> Vec<(String, String)> {
        let placed = rules.layout.place(subject);
        crate::facts::compute(subject);
        every_rule(rules, subject, &placed).0.into_iter().map(|f| (f.code.clone(), f.path())).collect()
    }

    /// [`evaluate`] with every rule enabled.
    fn every_rule(rules: &Ruleset, subject: &Subject, placed: &Placed) -> (Vec<Finding>, Vec<Overflow>) {
        let presence = Presence::of(rules.rules.iter().map(|rule| &rule.when), &subject.entries);
        evaluate(rules, subject, placed, Phase::Finished, &[], &presence)
    }

    const RULE: &str = "severity = \"error\"\nmessage = \"m {path}\"\nhelp = \"h\"\ndocs = \"d\"\n";

    #[test]
    fn forbid_collapses_descendants() {
        let rules = ruleset(&format!("[[rule]]\ncode = \"T1\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"**/ckpt*\"]\n{RULE}"));
        let mut subject =
            tree(&[("model", EntryKind::Dir), ("model/ckpt-1", EntryKind::Dir), ("model/ckpt-1/ckpt-opt", EntryKind::File), ("model/w.pt", EntryKind::File)]);
        assert_eq!(run(&rules, &mut subject), vec![("T1".to_string(), "model/ckpt-1".to_string())]);
    }

    #[test]
    fn allow_only_is_closed_world() {
        let rules = ruleset(&format!(
            "[[rule]]\ncode = \"T2\"\nname = \"n\"\ncheck = \"allow-only\"\nzone = \"model\"\npaths = [\"*.pt\", \"code\", \"code/**\"]\n{RULE}"
        ));
        let mut subject = tree(&[("model/w.pt", EntryKind::File), ("model/code/inference.py", EntryKind::File), ("model/notes.txt", EntryKind::File)]);
        assert_eq!(run(&rules, &mut subject), vec![("T2".to_string(), "model/notes.txt".to_string())]);
    }

    #[test]
    fn count_and_require_report_the_frame() {
        let rules = ruleset(&format!(
            "[[rule]]\ncode = \"T3\"\nname = \"n\"\ncheck = \"count\"\nmax = 1\nzone = \"model\"\npaths = [\"*.pt\"]\n{RULE}\n[[rule]]\ncode = \"T4\"\nname = \"n\"\ncheck = \"require\"\nzone = \"model\"\npaths = [\"code/inference.py\", \"*.pt\"]\n{RULE}"
        ));
        let mut subject = tree(&[("model/a.pt", EntryKind::File), ("model/b.pt", EntryKind::File)]);
        assert_eq!(run(&rules, &mut subject), vec![("T3".to_string(), "model".to_string()), ("T4".to_string(), "model/code/inference.py".to_string())]);
    }

    #[test]
    fn when_conditions_gate_rules() {
        let rules = ruleset(&format!(
            "[[rule]]\ncode = \"T5\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\nwhen = {{ missing = [\"model/code/inference.py\"], input = \"tree\" }}\n{RULE}"
        ));
        let mut without = tree(&[("model/a.pt", EntryKind::File)]);
        assert_eq!(run(&rules, &mut without).len(), 1);
        let mut with = tree(&[("model/a.pt", EntryKind::File), ("model/code/inference.py", EntryKind::File)]);
        assert!(run(&rules, &mut with).is_empty());
    }

    /// `exists` and `missing` are found in one pass over parts of the entries on several
    /// threads: a match in any part, first or last, counts, and two rules share a glob.
    #[test]
    fn when_conditions_see_every_part_of_many_entries() {
        let rules = ruleset(&format!(
            "[[rule]]\ncode = \"T8\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"last.bin\"]\nwhen = {{ exists = [\"model/last.bin\"] }}\n{RULE}\n\
             [[rule]]\ncode = \"T9\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"last.bin\"]\nwhen = {{ missing = [\"model/first.bin\"] }}\n{RULE}\n\
             [[rule]]\ncode = \"T10\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"last.bin\"]\nwhen = {{ missing = [\"model/last.bin\"] }}\n{RULE}"
        ));
        let many = |first: &str| {
            let mut paths = vec![(format!("model/{first}"), EntryKind::File)];
            paths.extend((0..60_000).map(|i| (format!("model/d/{i}.json"), EntryKind::File)));
            paths.push(("model/last.bin".to_string(), EntryKind::File));
            paths
        };
        let codes = |first: &str| {
            let paths = many(first);
            let borrowed: Vec<(&str, EntryKind)> = paths.iter().map(|(p, k)| (p.as_str(), *k)).collect();
            run(&rules, &mut tree(&borrowed)).into_iter().map(|(code, _)| code).collect::<Vec<_>>()
        };
        assert_eq!(codes("first.bin"), vec!["T8"]);
        assert_eq!(codes("other.bin"), vec!["T8", "T9"]);
    }

    #[test]
    fn zone_rules_skip_inputs_without_the_zone() {
        let rules = ruleset(&format!("[[rule]]\ncode = \"T6\"\nname = \"n\"\ncheck = \"require-any\"\nzone = \"status\"\npaths = [\"success\"]\n{RULE}"));
        let mut subject = tree(&[("model/a.pt", EntryKind::File)]);
        subject.origins[0].role = Role::Model;
        subject.origins[0].compression = Some(crate::source::Compression::Gzip);
        assert!(run(&rules, &mut subject).is_empty(), "a model archive holds no status markers");
    }

    #[test]
    fn grep_and_env_conditions_gate_rules() {
        let rules = ruleset(&format!(
            "[[rule]]\ncode = \"T7\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"*.pt\"]\nwhen = {{ lacks = {{ paths = [\"model/code/*.py\"], regex = \"def model_fn\" }}, env-unset = [\"HF_MODEL_ID\"] }}\n{RULE}"
        ));
        let handler = |text: &str| {
            let mut subject = tree(&[("model/a.pt", EntryKind::File), ("model/code/inference.py", EntryKind::File)]);
            subject.entries[1].set_content(Some(crate::entry::Content { bytes: text.as_bytes().to_vec(), truncated: false }));
            subject
        };
        assert_eq!(run(&rules, &mut handler("def predict_fn(x): pass")).len(), 1);
        assert!(run(&rules, &mut handler("def model_fn(d): pass")).is_empty());
        let mut deployed = rules;
        deployed.env = vec![("HF_MODEL_ID".into(), "gpt2".into())];
        assert!(run(&deployed, &mut handler("def predict_fn(x): pass")).is_empty());
    }

    fn rule(code: &str, check: &str, body: &str) -> String {
        format!("[[rule]]\ncode = \"{code}\"\nname = \"n\"\ncheck = \"{check}\"\n{body}\n{RULE}\n")
    }

    #[test]
    fn except_globs_stay_with_their_rule_in_the_shared_set() {
        // Both rules' globs land in one set for the model zone: T8's except must not exempt
        // entries from T9, and an entry matching both T8's paths and except is not reported.
        let rules = ruleset(
            &[
                rule("T8", "forbid", "zone = \"model\"\npaths = [\"**/*.pt\"]\nexcept = [\"keep/**\", \"*.pt\"]"),
                rule("T9", "forbid", "zone = \"model\"\npaths = [\"keep/*.pt\"]"),
            ]
            .concat(),
        );
        let mut subject = tree(&[("model/a.pt", EntryKind::File), ("model/keep/b.pt", EntryKind::File), ("model/x/c.pt", EntryKind::File)]);
        assert_eq!(run(&rules, &mut subject), vec![("T8".to_string(), "model/x/c.pt".to_string()), ("T9".to_string(), "model/keep/b.pt".to_string())]);
    }

    #[test]
    fn count_allow_only_and_require_read_their_own_matches() {
        // The same glob text in three rules of one frame, each with its own `where` filter.
        let rules = ruleset(
            &[
                rule("T10", "count", "max = 1\nzone = \"model\"\npaths = [\"*.json\"]"),
                rule("T11", "allow-only", "zone = \"model\"\npaths = [\"*.json\"]\nwhere = { type = \"file\" }"),
                rule("T12", "require", "zone = \"model\"\npaths = [\"*.json\", \"sub\"]\nwhere = { type = \"dir\" }"),
                rule("T13", "count", "min = 3\npaths = [\"model/*.json\"]"),
            ]
            .concat(),
        );
        let mut subject =
            tree(&[("model/a.json", EntryKind::File), ("model/b.json", EntryKind::File), ("model/sub", EntryKind::Dir), ("model/w.pt", EntryKind::File)]);
        assert_eq!(
            run(&rules, &mut subject),
            vec![
                ("T10".to_string(), "model".to_string()),
                ("T11".to_string(), "model/w.pt".to_string()),
                ("T12".to_string(), "model/*.json".to_string()),
                ("T13".to_string(), "".to_string()),
            ]
        );
    }

    #[test]
    fn templates_are_filled_in_one_pass() {
        let mut vars = Vars::default();
        vars.set("path", "{zone}/{size}").set("zone", "model").set("size", "1 B");
        assert_eq!(vars.render("`{path}` in {zone} ({size})"), "`{zone}/{size}` in model (1 B)");
        assert_eq!(vars.render("{unknown} {zone} {"), "{unknown} model {");
        assert_eq!(vars.render("{{zone}}"), "{model}");
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("job/output/model.tar.gz"), "job/output/model.tar.gz");
        assert_eq!(shell_quote("my models/model.tar.gz"), "'my models/model.tar.gz'");
        assert_eq!(shell_quote("it's.tar.gz"), "'it'\\''s.tar.gz'");
    }

    #[test]
    fn findings_beyond_the_limit_are_counted_when_created() {
        let rules = ruleset(&format!("[[rule]]\ncode = \"T9\"\nname = \"n\"\ncheck = \"forbid\"\nzone = \"model\"\npaths = [\"*.bad\"]\n{RULE}"));
        let names: Vec<String> = (0..1500).map(|i| format!("model/{i}.bad")).collect();
        let mut subject = tree(&names.iter().map(|name| (name.as_str(), EntryKind::File)).collect::<Vec<_>>());
        let placed = rules.layout.place(&mut subject);
        let (findings, overflow) = every_rule(&rules, &subject, &placed);
        assert_eq!(findings.len(), crate::finding::KEPT_PER_RULE);
        assert_eq!(overflow, vec![Overflow { rule: 0, code: "T9".into(), severity: crate::finding::Severity::Error, count: 500 }]);
    }
}
