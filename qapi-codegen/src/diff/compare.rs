//! The comparison: walks both schemas from their commands and events
//! down through the wire shapes of their types, and classifies each
//! difference by direction (see the rules in the parent module).

use std::collections::{HashMap, HashSet};

use qapi_parser::ir::{Command, Entity, EntityId, EntityKind, Event, Feature, IfCond, Member};
use qapi_parser::Schema;

use super::report::{Change, ChangeKind, Class, Direction, Item, Report, Step, Subject};
use super::shape::{is_anchor, shape_of, type_label, ObjectShape, Scalar, Shape};

/// How deep nested unions (a union as a branch of a union) are
/// flattened; the front end refuses an object that contains itself, so
/// this only bounds the work on a pathological schema.
const MAX_UNION_NESTING: usize = 8;

/// Where a change is found, while walking down.
#[derive(Debug, Clone)]
struct Place {
    subject: Subject,
    direction: Option<Direction>,
    path: Vec<Step>,
    conditions: Vec<IfCond>,
}

impl Place {
    fn top(subject: Subject, direction: Option<Direction>, ifcond: Option<&IfCond>) -> Place {
        Place {
            subject,
            direction,
            path: Vec::new(),
            conditions: ifcond.into_iter().cloned().collect(),
        }
    }

    fn step(&self, step: Step) -> Place {
        let mut place = self.clone();
        place.path.push(step);
        place
    }

    fn under(mut self, ifcond: Option<&IfCond>) -> Place {
        if let Some(cond) = ifcond {
            if !self.conditions.contains(cond) {
                self.conditions.push(cond.clone());
            }
        }
        self
    }

    fn condition(&self) -> Option<IfCond> {
        match self.conditions.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(IfCond::All(many.to_vec())),
        }
    }

    /// The direction data at this place travels; `Input` for places
    /// without one (never asked there: only types are directed).
    fn dir(&self) -> Direction {
        self.direction.unwrap_or(Direction::Input)
    }
}

/// The class of a change that lets fewer values through: old clients
/// may send what a new server refuses (input); old servers may send
/// what new clients refuse (output).
fn narrowing(direction: Direction) -> Class {
    match direction {
        Direction::Input => Class::BreaksClients,
        Direction::Output => Class::BreaksServers,
    }
}

/// The class of a change that lets more values through: a new value in
/// input is only sent by clients that choose it; in output it reaches
/// old clients that do not know it.
fn widening(direction: Direction) -> Class {
    match direction {
        Direction::Input => Class::Compatible,
        Direction::Output => Class::BreaksClients,
    }
}

/// The class of a member that is gone.
fn member_removed(direction: Direction, was_optional: bool) -> Class {
    match direction {
        // An old client may still send it: the new server refuses it.
        Direction::Input => Class::BreaksClients,
        // An old client expects it, unless it was optional anyway.
        Direction::Output if was_optional => Class::Compatible,
        Direction::Output => Class::BreaksClients,
    }
}

/// The class of a member that is new.
fn member_added(direction: Direction, optional: bool) -> Class {
    match (direction, optional) {
        (_, true) => Class::Compatible,
        // Old clients do not send it.
        (Direction::Input, false) => Class::BreaksClients,
        // Old clients ignore it; new clients expect it from old servers.
        (Direction::Output, false) => Class::BreaksServers,
    }
}

/// The class of a special feature's or another feature's change.
fn feature_class(name: &str) -> Class {
    match name {
        "deprecated" | "unstable" => Class::Feature,
        _ => Class::Compatible,
    }
}

/// One variant of an object: which tag values select it, and all the
/// members it then has.
struct Variant<'s> {
    key: Vec<(&'s str, &'s str, Option<&'s IfCond>)>,
    members: Vec<&'s Member>,
}

/// Every variant of an object (one for a struct), nested unions
/// flattened.
fn variants<'s>(schema: &'s Schema, object: &ObjectShape<'s>, depth: usize) -> Vec<Variant<'s>> {
    let top: Vec<&Member> = object.members.iter().collect();
    let Some(variants) = object
        .variants
        .as_ref()
        .filter(|_| depth < MAX_UNION_NESTING)
    else {
        return vec![Variant {
            key: Vec::new(),
            members: top,
        }];
    };
    let mut out = Vec::new();
    for case in &variants.cases {
        let branch = match shape_of(schema, case.ty) {
            Shape::Object(branch) => branch,
            _ => ObjectShape::EMPTY,
        };
        for inner in self::variants(schema, &branch, depth + 1) {
            let mut key = vec![(variants.tag, case.value, case.ifcond)];
            key.extend(inner.key);
            let mut members = top.clone();
            members.extend(inner.members);
            out.push(Variant { key, members });
        }
    }
    out
}

/// Whether one variant's key is a prefix of the other's: the same tag
/// values as far as both go.
fn keys_match(old: &Variant<'_>, new: &Variant<'_>) -> bool {
    old.key
        .iter()
        .zip(&new.key)
        .all(|(a, b)| a.0 == b.0 && a.1 == b.1)
}

/// The walk over two schemas.
struct Differ<'s> {
    old: &'s Schema,
    new: &'s Schema,
    changes: Vec<Change>,
    seen: HashSet<Change>,
    /// Pairs of named types already compared (or being compared: types
    /// may contain themselves through arrays), per direction.
    visited: HashSet<(EntityId, EntityId, Direction)>,
}

impl<'s> Differ<'s> {
    fn emit(&mut self, place: &Place, class: Class, kind: ChangeKind) {
        let change = Change {
            class,
            subject: place.subject.clone(),
            direction: place.direction,
            path: place.path.clone(),
            kind,
            condition: place.condition(),
        };
        if self.seen.insert(change.clone()) {
            self.changes.push(change);
        }
    }

    fn features(&mut self, old: &[Feature], new: &[Feature], place: &Place, of: &Item) {
        for feature in old {
            if !new.iter().any(|f| f.name == feature.name) {
                let kind = ChangeKind::FeatureRemoved {
                    of: of.clone(),
                    feature: feature.name.clone(),
                };
                self.emit(place, feature_class(&feature.name), kind);
            }
        }
        for feature in new {
            if !old.iter().any(|f| f.name == feature.name) {
                let kind = ChangeKind::FeatureAdded {
                    of: of.clone(),
                    feature: feature.name.clone(),
                };
                self.emit(place, feature_class(&feature.name), kind);
            }
        }
    }

    /// A changed condition: absent from more builds counts as `removed`,
    /// present in more builds as `added`. Reported at `place` without
    /// the item's own new condition, which the change itself shows.
    fn condition(
        &mut self,
        old: Option<&IfCond>,
        new: Option<&IfCond>,
        place: &Place,
        of: Item,
        removed: Class,
        added: Class,
    ) {
        if old == new {
            return;
        }
        let class = match (old, new) {
            (None, Some(_)) => removed,
            (Some(_), None) => added,
            _ => removed.join(added),
        };
        let kind = ChangeKind::ConditionChanged {
            of,
            old: old.cloned(),
            new: new.cloned(),
        };
        let mut place = place.clone();
        place.conditions.retain(|c| Some(c) != new);
        self.emit(&place, class, kind);
    }

    /// Commands and events matched by name: removed, added, or compared.
    fn commands_and_events(&mut self) {
        let (old, new) = (self.old, self.new);
        for entity in &old.entities {
            let found = new.lookup(&entity.name);
            match (&entity.kind, found.map(|e| (e, &e.kind))) {
                (EntityKind::Command(was), Some((now_entity, EntityKind::Command(now)))) => {
                    self.command(entity, was, now_entity, now)
                }
                (EntityKind::Event(was), Some((now_entity, EntityKind::Event(now)))) => {
                    self.event(entity, was, now_entity, now)
                }
                (EntityKind::Command(_), _) => {
                    let subject = Subject::Command(entity.name.clone());
                    let place = Place::top(subject, None, entity.ifcond.as_ref());
                    let kind = ChangeKind::Removed(Item::Command);
                    self.emit(&place, Class::BreaksClients, kind);
                }
                (EntityKind::Event(_), _) => {
                    let subject = Subject::Event(entity.name.clone());
                    let place = Place::top(subject, None, entity.ifcond.as_ref());
                    self.emit(
                        &place,
                        Class::BreaksClients,
                        ChangeKind::Removed(Item::Event),
                    );
                }
                _ => {}
            }
        }
        for entity in &new.entities {
            let (subject, item) = match entity.kind {
                EntityKind::Command(_) => (Subject::Command(entity.name.clone()), Item::Command),
                EntityKind::Event(_) => (Subject::Event(entity.name.clone()), Item::Event),
                _ => continue,
            };
            let existed = old.lookup(&entity.name).is_some_and(|e| {
                std::mem::discriminant(&e.kind) == std::mem::discriminant(&entity.kind)
            });
            if !existed {
                let place = Place::top(subject, None, entity.ifcond.as_ref());
                self.emit(&place, Class::Compatible, ChangeKind::Added(item));
            }
        }
    }

    /// A command in both schemas: its condition, features, flags,
    /// arguments (input) and answer (output).
    fn command(&mut self, old_entity: &Entity, was: &Command, new_entity: &Entity, now: &Command) {
        let subject = Subject::Command(new_entity.name.clone());
        let place = Place::top(subject, None, new_entity.ifcond.as_ref());
        self.condition(
            old_entity.ifcond.as_ref(),
            new_entity.ifcond.as_ref(),
            &place,
            Item::Command,
            Class::BreaksClients,
            Class::Compatible,
        );
        self.features(
            &old_entity.features,
            &new_entity.features,
            &place,
            &Item::Command,
        );
        // Losing `allow-oob` or `allow-preconfig` fails the old clients
        // that use it; gaining one is an addition. A changed
        // `success-response` changes what every client waits for.
        for (flag, before, after) in [
            ("allow-oob", was.allow_oob, now.allow_oob),
            ("allow-preconfig", was.allow_preconfig, now.allow_preconfig),
            (
                "success-response",
                was.success_response,
                now.success_response,
            ),
        ] {
            if before != after {
                let class = match (flag, after) {
                    ("success-response", _) => Class::BreaksBoth,
                    (_, true) => Class::Compatible,
                    (_, false) => Class::BreaksClients,
                };
                let kind = ChangeKind::FlagChanged { flag, now: after };
                self.emit(&place, class, kind);
            }
        }
        let input = Place {
            direction: Some(Direction::Input),
            ..place.clone()
        };
        self.object_or_empty(was.arg_type, now.arg_type, &input);
        let output = Place {
            direction: Some(Direction::Output),
            ..place
        };
        self.object_or_empty(was.ret_type, now.ret_type, &output);
    }

    /// An event in both schemas: its condition, features and data
    /// (output).
    fn event(&mut self, old_entity: &Entity, was: &Event, new_entity: &Entity, now: &Event) {
        let subject = Subject::Event(new_entity.name.clone());
        let place = Place::top(subject, None, new_entity.ifcond.as_ref());
        self.condition(
            old_entity.ifcond.as_ref(),
            new_entity.ifcond.as_ref(),
            &place,
            Item::Event,
            Class::BreaksClients,
            Class::Compatible,
        );
        self.features(
            &old_entity.features,
            &new_entity.features,
            &place,
            &Item::Event,
        );
        let output = Place {
            direction: Some(Direction::Output),
            ..place
        };
        self.object_or_empty(was.arg_type, now.arg_type, &output);
    }

    /// Compares command arguments, answers or event data: no type is
    /// the empty object `{}`. The top object is reported under the
    /// command or event, even when it is a named type.
    fn object_or_empty(&mut self, old: Option<EntityId>, new: Option<EntityId>, place: &Place) {
        let empty_old = self.old.lookup_id("q_empty");
        let empty_new = self.new.lookup_id("q_empty");
        if let (Some(old), Some(new)) = (old.or(empty_old), new.or(empty_new)) {
            self.types(old, new, place, false);
        }
    }

    /// Compares two types at `place`. A pair of named types of one kind
    /// (two enums, two objects, two alternates) is compared once per
    /// direction and reported under the new one's name when `anchor`
    /// allows; other pairs are compared at `place`.
    fn types(&mut self, old_id: EntityId, new_id: EntityId, place: &Place, anchor: bool) {
        let (old, new) = (self.old, self.new);
        let same_kind = std::mem::discriminant(&old.entity(old_id).kind)
            == std::mem::discriminant(&new.entity(new_id).kind);
        if anchor && same_kind && is_anchor(old, old_id) && is_anchor(new, new_id) {
            if !self.visited.insert((old_id, new_id, place.dir())) {
                return;
            }
            let (old_entity, new_entity) = (old.entity(old_id), new.entity(new_id));
            let subject = Subject::Type {
                name: new_entity.name.clone(),
                was: (old_entity.name != new_entity.name).then(|| old_entity.name.clone()),
            };
            let at = Place::top(subject, place.direction, new_entity.ifcond.as_ref());
            self.features(&old_entity.features, &new_entity.features, &at, &Item::Type);
            self.shapes(old_id, new_id, &at);
        } else {
            self.shapes(old_id, new_id, place);
        }
    }

    fn shapes(&mut self, old_id: EntityId, new_id: EntityId, place: &Place) {
        let (old, new) = (self.old, self.new);
        let direction = place.dir();
        let labels = || ChangeLabels {
            old: type_label(old, old_id),
            new: type_label(new, new_id),
        };
        match (shape_of(old, old_id), shape_of(new, new_id)) {
            (Shape::Array(a), Shape::Array(b)) => {
                self.types(a, b, &place.step(Step::Element), true)
            }
            (Shape::Scalar(a), Shape::Scalar(b)) if a == b => {}
            (Shape::Scalar(a), Shape::Scalar(b)) if a.within(b) => {
                self.emit(place, widening(direction), labels().widened())
            }
            (Shape::Scalar(a), Shape::Scalar(b)) if b.within(a) => {
                self.emit(place, narrowing(direction), labels().narrowed())
            }
            (Shape::Enum(_), Shape::Scalar(Scalar::Str | Scalar::Any))
            | (Shape::Alternate(_), Shape::Scalar(Scalar::Any)) => {
                self.emit(place, widening(direction), labels().widened())
            }
            (Shape::Scalar(Scalar::Str), Shape::Enum(_)) => {
                self.emit(place, narrowing(direction), labels().narrowed())
            }
            (Shape::Scalar(Scalar::Any), shape) if !matches!(shape, Shape::Scalar(_)) => {
                self.emit(place, narrowing(direction), labels().narrowed())
            }
            (shape, Shape::Scalar(Scalar::Any)) if !matches!(shape, Shape::Scalar(_)) => {
                self.emit(place, widening(direction), labels().widened())
            }
            (Shape::Enum(a), Shape::Enum(b)) => {
                for value in a {
                    let item = Item::EnumValue(value.name.clone());
                    match b.iter().find(|v| v.name == value.name) {
                        None => self.emit(
                            &place.clone().under(value.ifcond.as_ref()),
                            narrowing(direction),
                            ChangeKind::Removed(item),
                        ),
                        Some(now) => {
                            let at = place.clone().under(now.ifcond.as_ref());
                            self.condition(
                                value.ifcond.as_ref(),
                                now.ifcond.as_ref(),
                                place,
                                item.clone(),
                                narrowing(direction),
                                widening(direction),
                            );
                            self.features(&value.features, &now.features, &at, &item);
                        }
                    }
                }
                for value in b.iter().filter(|v| !a.iter().any(|o| o.name == v.name)) {
                    self.emit(
                        &place.clone().under(value.ifcond.as_ref()),
                        widening(direction),
                        ChangeKind::Added(Item::EnumValue(value.name.clone())),
                    );
                }
            }
            (Shape::Object(a), Shape::Object(b)) => self.objects(&a, &b, place),
            (Shape::Alternate(a), Shape::Alternate(b)) => {
                let kind_of = |schema: &Schema, id| shape_of(schema, id).json_kind();
                for branch in a {
                    let kind = kind_of(old, branch.ty);
                    match b.iter().find(|nb| kind_of(new, nb.ty) == kind) {
                        Some(now) => self.types(branch.ty, now.ty, place, true),
                        None => self.emit(
                            &place.clone().under(branch.ifcond.as_ref()),
                            narrowing(direction),
                            ChangeKind::Removed(Item::AlternateBranch(type_label(old, branch.ty))),
                        ),
                    }
                }
                for branch in b {
                    let kind = kind_of(new, branch.ty);
                    if !a.iter().any(|ob| kind_of(old, ob.ty) == kind) {
                        self.emit(
                            &place.clone().under(branch.ifcond.as_ref()),
                            widening(direction),
                            ChangeKind::Added(Item::AlternateBranch(type_label(new, branch.ty))),
                        );
                    }
                }
            }
            (shape, Shape::Alternate(b))
                if b.iter()
                    .any(|nb| shape_of(new, nb.ty).json_kind() == shape.json_kind()) =>
            {
                // A type that became one branch of an alternate: the
                // other branches are new values.
                for branch in b {
                    if shape_of(new, branch.ty).json_kind() == shape.json_kind() {
                        self.types(old_id, branch.ty, place, true);
                    } else {
                        self.emit(
                            &place.clone().under(branch.ifcond.as_ref()),
                            widening(direction),
                            ChangeKind::Added(Item::AlternateBranch(type_label(new, branch.ty))),
                        );
                    }
                }
            }
            (Shape::Alternate(a), shape)
                if a.iter()
                    .any(|ob| shape_of(old, ob.ty).json_kind() == shape.json_kind()) =>
            {
                for branch in a {
                    if shape_of(old, branch.ty).json_kind() == shape.json_kind() {
                        self.types(branch.ty, new_id, place, true);
                    } else {
                        self.emit(
                            &place.clone().under(branch.ifcond.as_ref()),
                            narrowing(direction),
                            ChangeKind::Removed(Item::AlternateBranch(type_label(old, branch.ty))),
                        );
                    }
                }
            }
            _ => self.emit(place, Class::BreaksBoth, labels().changed()),
        }
    }

    /// Compares two objects variant by variant: a struct is one
    /// variant, a union one per tag value (a struct against a union is
    /// compared with each of its variants). Members present whatever
    /// the tag are reported without the tag value.
    fn objects(&mut self, old: &ObjectShape<'s>, new: &ObjectShape<'s>, place: &Place) {
        if let (Some(a), Some(b)) = (&old.variants, &new.variants) {
            if a.tag != b.tag {
                let kind = ChangeKind::DiscriminatorChanged {
                    old: a.tag.to_owned(),
                    new: b.tag.to_owned(),
                };
                self.emit(place, Class::BreaksBoth, kind);
                let (a, b) = (old.members.iter().collect(), new.members.iter().collect());
                self.members(a, b, &HashSet::new(), place, &[]);
                return;
            }
        }
        let common: HashSet<&str> = old
            .members
            .iter()
            .chain(new.members)
            .map(|m| m.name.as_str())
            .collect();
        let old_variants = variants(self.old, old, 0);
        let new_variants = variants(self.new, new, 0);
        for ov in &old_variants {
            for nv in new_variants.iter().filter(|nv| keys_match(ov, nv)) {
                let key = if nv.key.len() >= ov.key.len() {
                    &nv.key
                } else {
                    &ov.key
                };
                self.members(ov.members.clone(), nv.members.clone(), &common, place, key);
            }
        }
    }

    /// Compares two member lists by name. `common` members are reported
    /// at `place`; the others under the tag values in `key`.
    fn members(
        &mut self,
        old: Vec<&'s Member>,
        new: Vec<&'s Member>,
        common: &HashSet<&str>,
        place: &Place,
        key: &[(&str, &str, Option<&IfCond>)],
    ) {
        let direction = place.dir();
        let index: HashMap<&str, &Member> = new.iter().map(|m| (m.name.as_str(), *m)).collect();
        let at = |member: &Member| -> Place {
            let mut at = place.clone();
            if !common.contains(member.name.as_str()) {
                for (tag, value, ifcond) in key {
                    at = at
                        .step(Step::Case {
                            tag: (*tag).to_owned(),
                            value: (*value).to_owned(),
                        })
                        .under(*ifcond);
                }
            }
            at.step(Step::Member(member.name.clone()))
                .under(member.ifcond.as_ref())
        };
        for member in &old {
            let Some(now) = index.get(member.name.as_str()) else {
                let class = member_removed(direction, member.optional);
                let kind = ChangeKind::Removed(Item::Member {
                    optional: member.optional,
                });
                self.emit(&at(member), class, kind);
                continue;
            };
            let here = at(now);
            let item = Item::Member {
                optional: now.optional,
            };
            self.condition(
                member.ifcond.as_ref(),
                now.ifcond.as_ref(),
                &here,
                item.clone(),
                member_removed(direction, member.optional),
                member_added(direction, now.optional),
            );
            match (member.optional, now.optional) {
                (true, false) => self.emit(&here, narrowing(direction), ChangeKind::NowMandatory),
                (false, true) => {
                    // In input, new clients may now leave it out, which
                    // old servers refuse; in output, old clients miss it.
                    let class = match direction {
                        Direction::Input => Class::BreaksServers,
                        Direction::Output => Class::BreaksClients,
                    };
                    self.emit(&here, class, ChangeKind::NowOptional)
                }
                _ => {}
            }
            self.features(&member.features, &now.features, &here, &item);
            self.types(member.ty, now.ty, &here, true);
        }
        let names: HashSet<&str> = old.iter().map(|m| m.name.as_str()).collect();
        for member in new.iter().filter(|m| !names.contains(m.name.as_str())) {
            let class = member_added(direction, member.optional);
            let kind = ChangeKind::Added(Item::Member {
                optional: member.optional,
            });
            self.emit(&at(member), class, kind);
        }
    }

    /// Named types that no command or event uses, in either schema:
    /// not on the QMP wire, so their additions and removals are listed
    /// as compatible (command-line-only types, leftovers of includes).
    fn unused_types(&mut self) {
        let (old, new) = (self.old, self.new);
        let (old_used, new_used) = (used_types(old), used_types(new));
        for (schema, used, other, removed) in
            [(old, &old_used, new, true), (new, &new_used, old, false)]
        {
            for (index, entity) in schema.entities.iter().enumerate() {
                let id = EntityId(index as u32);
                if !is_anchor(schema, id) || used.contains(&id) {
                    continue;
                }
                if other.lookup_id(&entity.name).is_some() {
                    continue;
                }
                let place = Place::top(
                    Subject::Type {
                        name: entity.name.clone(),
                        was: None,
                    },
                    None,
                    entity.ifcond.as_ref(),
                );
                let kind = if removed {
                    ChangeKind::Removed(Item::Type)
                } else {
                    ChangeKind::Added(Item::Type)
                };
                self.emit(&place, Class::Compatible, kind);
            }
        }
    }
}

/// The types some command or event of `schema` reaches.
fn used_types(schema: &Schema) -> HashSet<EntityId> {
    let mut used = HashSet::new();
    let mut stack: Vec<EntityId> = Vec::new();
    for entity in &schema.entities {
        match &entity.kind {
            EntityKind::Command(c) => stack.extend(c.arg_type.into_iter().chain(c.ret_type)),
            EntityKind::Event(e) => stack.extend(e.arg_type),
            _ => {}
        }
    }
    while let Some(id) = stack.pop() {
        if !used.insert(id) {
            continue;
        }
        match &schema.entity(id).kind {
            EntityKind::Array { element, .. } => stack.push(*element),
            EntityKind::Object(object) => {
                stack.extend(object.base);
                stack.extend(object.members.iter().map(|m| m.ty));
                if let Some(union) = &object.union {
                    stack.extend(union.branches.iter().map(|b| b.ty));
                }
            }
            EntityKind::Alternate { branches } => stack.extend(branches.iter().map(|b| b.ty)),
            _ => {}
        }
    }
    used
}

/// The two types of a type change, as written.
struct ChangeLabels {
    old: String,
    new: String,
}

impl ChangeLabels {
    fn widened(self) -> ChangeKind {
        ChangeKind::TypeWidened {
            old: self.old,
            new: self.new,
        }
    }

    fn narrowed(self) -> ChangeKind {
        ChangeKind::TypeNarrowed {
            old: self.old,
            new: self.new,
        }
    }

    fn changed(self) -> ChangeKind {
        ChangeKind::TypeChanged {
            old: self.old,
            new: self.new,
        }
    }
}

/// The whole comparison, sorted for reading.
pub(super) fn compare(old: &Schema, new: &Schema) -> Report {
    let mut differ = Differ {
        old,
        new,
        changes: Vec::new(),
        seen: HashSet::new(),
        visited: HashSet::new(),
    };
    differ.commands_and_events();
    differ.unused_types();
    let mut changes = differ.changes;
    changes.sort_by_cached_key(|c| {
        (
            c.class,
            c.subject.clone(),
            c.direction,
            c.path.clone(),
            c.kind.to_string(),
        )
    });
    Report { changes }
}
