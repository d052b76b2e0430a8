//! The dump back end: the schema printed the way QEMU's
//! `tests/qapi-schema/test-qapi.py` prints it, the format of the
//! conformance corpus.

use std::fmt::Write as _;

use crate::ir::*;

fn print_if(out: &mut String, ifcond: &Option<IfCond>, indent: usize) {
    if let Some(c) = ifcond {
        let _ = writeln!(out, "{:indent$}if {c}", "");
    }
}

fn print_features(out: &mut String, features: &[Feature], indent: usize) {
    for f in features {
        let _ = writeln!(out, "{:indent$}feature {}", "", f.name);
        print_if(out, &f.ifcond, indent + 4);
    }
}

fn print_branches(out: &mut String, schema: &Schema, tag: &str, branches: &[Branch]) {
    let _ = writeln!(out, "    tag {tag}");
    for b in branches {
        let _ = writeln!(out, "    case {}: {}", b.name, schema.entity(b.ty).name);
        print_if(out, &b.ifcond, 8);
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn name_or_none(schema: &Schema, id: Option<EntityId>) -> &str {
    id.map_or("None", |i| schema.entity(i).name.as_str())
}

/// The entity part of the dump: modules, then their entities.
pub fn dump_entities(schema: &Schema, out: &mut String) {
    for module in &schema.modules {
        let _ = writeln!(out, "module {}", module.name);
        for &id in &module.entities {
            dump_entity(schema, schema.entity(id), out);
        }
    }
}

fn dump_entity(schema: &Schema, e: &Entity, out: &mut String) {
    match &e.kind {
        EntityKind::Include { module } => {
            let _ = writeln!(out, "include {}", schema.modules[module.0 as usize].name);
        }
        EntityKind::Builtin { .. } => {}
        EntityKind::Enum { values, prefix } => {
            let _ = writeln!(out, "enum {}", e.name);
            if let Some(p) = prefix {
                let _ = writeln!(out, "    prefix {p}");
            }
            for v in values {
                let _ = writeln!(out, "    member {}", v.name);
                print_if(out, &v.ifcond, 8);
                print_features(out, &v.features, 8);
            }
            print_if(out, &e.ifcond, 4);
            print_features(out, &e.features, 4);
        }
        EntityKind::Array { element, .. } => {
            if e.info.is_none() {
                return;
            }
            let _ = writeln!(out, "array {} {}", e.name, schema.entity(*element).name);
            print_if(out, &e.ifcond, 4);
        }
        EntityKind::Object(o) => {
            let _ = writeln!(out, "object {}", e.name);
            if let Some(b) = o.base {
                let _ = writeln!(out, "    base {}", schema.entity(b).name);
            }
            for m in &o.local_members {
                let _ = writeln!(
                    out,
                    "    member {}: {} optional={}",
                    m.name,
                    schema.entity(m.ty).name,
                    py_bool(m.optional)
                );
                print_if(out, &m.ifcond, 8);
                print_features(out, &m.features, 8);
            }
            if let Some(u) = &o.union {
                print_branches(out, schema, &u.tag, &u.branches);
            }
            print_if(out, &e.ifcond, 4);
            print_features(out, &e.features, 4);
        }
        EntityKind::Alternate { branches } => {
            let _ = writeln!(out, "alternate {}", e.name);
            print_branches(out, schema, "type", branches);
            print_if(out, &e.ifcond, 4);
            print_features(out, &e.features, 4);
        }
        EntityKind::Command(c) => {
            let _ = writeln!(
                out,
                "command {} {} -> {}",
                e.name,
                name_or_none(schema, c.arg_type),
                name_or_none(schema, c.ret_type)
            );
            let _ = write!(
                out,
                "    gen={} success_response={} boxed={} oob={} preconfig={}",
                py_bool(c.gen),
                py_bool(c.success_response),
                py_bool(c.boxed),
                py_bool(c.allow_oob),
                py_bool(c.allow_preconfig)
            );
            if c.coroutine {
                out.push_str(" coroutine=True");
            }
            out.push('\n');
            print_if(out, &e.ifcond, 4);
            print_features(out, &e.features, 4);
        }
        EntityKind::Event(ev) => {
            let _ = writeln!(
                out,
                "event {} {}",
                e.name,
                name_or_none(schema, ev.arg_type)
            );
            let _ = writeln!(out, "    boxed={}", py_bool(ev.boxed));
            print_if(out, &e.ifcond, 4);
            print_features(out, &e.features, 4);
        }
    }
}

/// The documentation part of the dump.
pub fn dump_docs(schema: &Schema, out: &mut String) {
    for doc in &schema.docs {
        match &doc.symbol {
            Some(s) => {
                let _ = writeln!(out, "doc symbol={s}");
            }
            None => out.push_str("doc freeform\n"),
        }
        let _ = writeln!(out, "    body=\n{}", doc.body().text);
        for (name, &id) in &doc.args {
            let _ = writeln!(out, "    arg={name}\n{}", doc.section(id).text);
        }
        for (name, &id) in &doc.features {
            let _ = writeln!(out, "    feature={name}\n{}", doc.section(id).text);
        }
        for &id in &doc.sections {
            let s = doc.section(id);
            let _ = writeln!(out, "    section={}\n{}", s.kind.title(), s.text);
        }
    }
}

/// The whole dump: entities, then documentation.
pub fn dump(schema: &Schema) -> String {
    let mut out = String::with_capacity(64 * 1024);
    dump_entities(schema, &mut out);
    dump_docs(schema, &mut out);
    out
}
