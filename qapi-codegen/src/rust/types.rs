//! The schema's types: enums, structs, unions, alternates.

use proc_macro2::{Ident, TokenStream};
use qapi_parser::ir::{
    Branch, Entity, EntityId, EntityKind, EnumValue, JsonType, Member, ObjectType,
};
use quote::{format_ident, quote};

use super::model::{is_top_level_object, Context};
use crate::cfg::Resolved;
use crate::names;

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    let mut serde_types = Vec::new();
    for (i, e) in cx.schema.entities.iter().enumerate() {
        let id = EntityId(i as u32);
        let cond = cx.cond(id);
        if !cond.is_possible() {
            continue;
        }
        let Some(name) = cx.names.types.get(&id) else {
            continue;
        };
        let item = match &e.kind {
            EntityKind::Enum { values, .. } => enumeration(cx, id, e, name, values),
            EntityKind::Object(o) if is_top_level_object(e) => match &o.union {
                None => structure(cx, id, e, name, o),
                Some(_) => union(cx, id, e, name, o),
            },
            EntityKind::Alternate { branches } => alternate(cx, id, e, name, branches),
            _ => continue,
        };
        let attr = cond.attr();
        // Each item carries its condition; wrapping them in a cfg'd block
        // is not possible for items, so the attribute is spread.
        out.extend(spread_cfg(&attr, item));
        let dep = cx.deprecated_attr(&e.features);
        let allow = if dep.is_empty() {
            quote!()
        } else {
            quote!(#[allow(deprecated)])
        };
        serde_types.push((quote!(#attr #allow), quote!(#name)));
    }
    out.extend(serde_impls(cx, &serde_types));
    out
}

/// One `impl_serde!` for every type, each with its attributes (cfg,
/// allow(deprecated)).
pub(crate) fn serde_impls(cx: &Context<'_>, types: &[(TokenStream, TokenStream)]) -> TokenStream {
    let rt = &cx.rt;
    if types.is_empty() {
        return TokenStream::new();
    }
    let entries = types.iter().map(|(attr, t)| quote!(#attr #t));
    quote!(#rt::impl_serde!(#(#entries),*);)
}

/// Puts `attr` on every top-level item in `items` (each item is one
/// `syn::Item`).
pub(crate) fn spread_cfg(attr: &TokenStream, items: TokenStream) -> TokenStream {
    if attr.is_empty() {
        return items;
    }
    let attrs =
        syn::parse::Parser::parse2(syn::Attribute::parse_outer, attr.clone()).unwrap_or_default();
    match syn::parse2::<syn::File>(items.clone()) {
        Ok(file) => {
            let items = file.items.into_iter().map(|item| {
                // An attribute the item already has is not repeated
                // (clippy's `duplicated_attributes`).
                let has: Vec<String> = item_attrs(&item)
                    .iter()
                    .map(|a| quote!(#a).to_string())
                    .collect();
                let new = attrs
                    .iter()
                    .filter(|a| !has.contains(&quote!(#a).to_string()));
                quote!(#(#new)* #item)
            });
            quote!(#(#items)*)
        }
        Err(_) => items,
    }
}

/// The outer attributes of an item, as far as `spread_cfg` needs them.
fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn enumeration(
    cx: &Context<'_>,
    id: EntityId,
    e: &Entity,
    name: &Ident,
    values: &[EnumValue],
) -> TokenStream {
    let rt = &cx.rt;
    let doc = cx.schema.doc_of(e);
    let docs = cx.item_docs(e);
    let user = cx.user_attrs(&e.name);
    let idents = cx.names.variants.get(&id).cloned().unwrap_or_default();
    let values: Vec<(&EnumValue, Ident, Resolved)> = values
        .iter()
        .zip(idents)
        .map(|(v, ident)| {
            let c = cx
                .cfg_map
                .resolve(v.ifcond.as_ref())
                .and(&cx.special_gate(&v.features));
            (v, ident, c)
        })
        .filter(|(_, _, c)| c.is_possible())
        .collect();
    let open = cx.options.open_enums;
    let defs = values.iter().map(|(v, ident, c)| {
        let attr = c.attr();
        let dep = cx.deprecated_attr(&v.features);
        let vdocs = cx.member_docs(doc, &v.name, &v.features);
        quote!(#vdocs #attr #dep #ident,)
    });
    let as_str = values.iter().map(|(v, ident, c)| {
        let attr = c.attr();
        let wire = &v.name;
        quote!(#attr Self::#ident => #wire,)
    });
    let from_wire = values.iter().map(|(v, ident, c)| {
        let attr = c.attr();
        let wire = &v.name;
        quote!(#attr #wire => Some(Self::#ident),)
    });
    let any_special = values
        .iter()
        .any(|(v, _, _)| cx.special(&v.features).is_some());
    let any_deprecated = values
        .iter()
        .any(|(v, _, _)| !cx.deprecated_attr(&v.features).is_empty());
    let allow_dep = if any_deprecated {
        quote!(#[allow(deprecated)])
    } else {
        quote!()
    };
    let (unknown_variant, unknown_as_str, unknown_visit, derive_copy) = if open {
        (
            quote! {
                /// A value this build does not know, kept as sent (only a
                /// client reading a newer server's output produces it).
                Unknown(String),
            },
            quote!(Self::Unknown(s) => s,),
            quote!(None if input.keeps_unknown_enum_values() => Ok(Self::Unknown(s)),),
            quote!(),
        )
    } else {
        (quote!(), quote!(), quote!(), quote!(Copy,))
    };
    let special_fn = if any_special {
        let arms = values.iter().filter_map(|(v, ident, c)| {
            let s = cx.special(&v.features)?;
            let attr = c.attr();
            Some(quote!(#attr Self::#ident => #s,))
        });
        quote! {
            /// The value's special features (`deprecated`, `unstable`).
            #allow_dep
            pub fn special(&self) -> #rt::Special {
                match self {
                    #(#arms)*
                    _ => #rt::Special::NONE,
                }
            }
        }
    } else {
        quote!()
    };
    let check_special = if any_special {
        quote!(input.special_value(&s, v.special())?;)
    } else {
        quote!()
    };
    let lifetime_str = if open {
        quote!(&str)
    } else {
        quote!(&'static str)
    };
    // An enum without values (all left out, or none in the schema).
    let (as_str_body, from_wire_body) = if values.is_empty() {
        let as_str = if open {
            quote!(match self { #unknown_as_str })
        } else {
            quote!(match *self {})
        };
        (
            as_str,
            quote!({
                let _ = s;
                None
            }),
        )
    } else if !open && values.iter().all(|(_, _, c)| matches!(c, Resolved::Cfg(_))) {
        // A cfg may leave out every value: match the value, not the
        // reference (an empty match on a reference is refused).
        (
            quote!(match *self { #(#as_str)* }),
            quote!(match s { #(#from_wire)* _ => None, }),
        )
    } else {
        (
            quote!(match self { #(#as_str)* #unknown_as_str }),
            quote!(match s { #(#from_wire)* _ => None, }),
        )
    };
    let qname = &e.name;
    let variant_lint = variant_lint_allow(name, values.iter().map(|(_, i, _)| i));
    quote! {
        #docs
        #[derive(Debug, Clone, #derive_copy PartialEq, Eq, Hash)]
        #variant_lint
        #user
        pub enum #name {
            #(#defs)*
            #unknown_variant
        }

        #allow_dep
        impl #name {
            /// The value's wire name.
            pub fn as_str(&self) -> #lifetime_str {
                #as_str_body
            }

            /// The value with this wire name, if this build knows it.
            pub fn from_wire(s: &str) -> Option<Self> {
                #from_wire_body
            }

            #special_fn
        }

        impl #rt::QapiEnum for #name {
            fn as_str(&self) -> &str {
                #name::as_str(self)
            }
            fn from_wire(s: &str) -> Option<Self> {
                #name::from_wire(s)
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = #rt::api::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_wire(s).ok_or_else(|| #rt::api::UnknownValue::new(#qname, s))
            }
        }

        impl #rt::Visit for #name {
            fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                let s = input.string(name, value)?;
                match Self::from_wire(&s) {
                    Some(v) => {
                        #check_special
                        Ok(v)
                    }
                    #unknown_visit
                    None => Err(input.bad_enum_value(name, &s)),
                }
            }
        }

        impl #rt::ToValue for #name {
            fn to_value(&self, _: &#rt::Output) -> #rt::Value {
                #rt::Value::String(self.as_str().to_owned())
            }
        }
    }
}

/// `#[allow(clippy::enum_variant_names)]` where clippy's lint would fire:
/// at least three variants sharing a first or last camel-case word, or
/// variants that repeat the enum's name.
fn variant_lint_allow<'a>(name: &Ident, variants: impl Iterator<Item = &'a Ident>) -> TokenStream {
    let variants: Vec<String> = variants.map(|v| v.to_string()).collect();
    let words = |s: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in s.chars() {
            if c.is_uppercase() || out.is_empty() {
                out.push(c.to_string());
            } else if let Some(last) = out.last_mut() {
                last.push(c);
            }
        }
        out
    };
    let first: Vec<String> = variants
        .iter()
        .map(|v| words(v).first().cloned().unwrap_or_default())
        .collect();
    let last: Vec<String> = variants
        .iter()
        .map(|v| words(v).last().cloned().unwrap_or_default())
        .collect();
    let shared = |w: &[String]| w.len() >= 3 && w.iter().all(|x| x == &w[0]);
    let n = name.to_string();
    let repeats = variants
        .iter()
        .any(|v| v.starts_with(&n) || v.ends_with(&n));
    if shared(&first) || shared(&last) || repeats {
        quote!(#[allow(clippy::enum_variant_names)])
    } else {
        quote!()
    }
}

/// The fields of an object: (member, field ident, condition).
pub(crate) struct Field<'m> {
    pub member: &'m Member,
    /// Position in the member list it came from.
    pub index: usize,
    pub ident: Ident,
    pub cond: Resolved,
}

pub(crate) fn fields<'m>(
    cx: &Context<'_>,
    members: impl Iterator<Item = &'m Member>,
    reserved: &[&str],
) -> Vec<Field<'m>> {
    let mut ns = names::Namespace::with_reserved(reserved);
    members
        .enumerate()
        .filter_map(|(index, m)| {
            let cond = cx.member_cond(m);
            if !cond.is_possible() {
                return None;
            }
            let ident = names::ident(&ns.claim(names::member_name(&m.name)));
            Some(Field {
                member: m,
                index,
                ident,
                cond,
            })
        })
        .collect()
}

/// Field declarations.
pub(crate) fn field_decls(
    cx: &Context<'_>,
    owner: EntityId,
    fields: &[Field<'_>],
    up: bool,
) -> TokenStream {
    let decls = fields.iter().map(|f| {
        let m = f.member;
        let attr = f.cond.attr();
        let dep = cx.deprecated_attr(&m.features);
        let ty = cx.field_type(owner, m.ty, up);
        let ty = if m.optional { quote!(Option<#ty>) } else { ty };
        let docs = cx.member_docs(cx.member_doc_owner(&m.defined_in), &m.name, &m.features);
        let ident = &f.ident;
        quote!(#docs #attr #dep pub #ident: #ty,)
    });
    quote!(#(#decls)*)
}

/// Statements reading each field into a local of the same name.
pub(crate) fn field_reads(cx: &Context<'_>, fields: &[Field<'_>]) -> TokenStream {
    let reads = fields.iter().map(|f| field_read(cx, f));
    quote!(#(#reads)*)
}

fn field_read(cx: &Context<'_>, f: &Field<'_>) -> TokenStream {
    let m = f.member;
    let wire = &m.name;
    let ident = &f.ident;
    let attr = f.cond.attr();
    let optional = m.optional;
    let special = cx
        .special(&m.features)
        .map(|s| quote!(input.special_member(object, #wire, #optional, #s)?;));
    let read = match (cx.visit_fn(m.ty), optional) {
        (None, false) => quote!(input.member(object, #wire)?),
        (None, true) => quote!(input.optional(object, #wire)?),
        (Some(f), false) => quote!(input.member_with(object, #wire, #f)?),
        (Some(f), true) => quote!(input.optional_with(object, #wire, #f)?),
    };
    match special {
        Some(s) => quote!(#attr let #ident = { #s #read };),
        None => quote!(#attr let #ident = #read;),
    }
}

/// Statements writing each field into `object`.
pub(crate) fn field_writes(
    cx: &Context<'_>,
    fields: &[Field<'_>],
    this: TokenStream,
) -> TokenStream {
    let rt = &cx.rt;
    let writes = fields.iter().map(|f| {
        let m = f.member;
        let wire = &m.name;
        let ident = &f.ident;
        let attr = f.cond.attr();
        let write = if m.optional {
            quote! {
                if let Some(v) = &#this.#ident {
                    object.insert(#wire.into(), #rt::ToValue::to_value(v, out));
                }
            }
        } else {
            quote!(object.insert(#wire.into(), #rt::ToValue::to_value(&#this.#ident, out));)
        };
        match cx.special(&m.features) {
            Some(s) => quote!(#attr if out.shows(#s) { #write }),
            None => quote!(#attr { #write }),
        }
    });
    quote!(#(#writes)*)
}

/// The derives of an object type.
pub(crate) fn object_derives(
    cx: &Context<'_>,
    id: EntityId,
    fields: &[Field<'_>],
    unit: bool,
) -> TokenStream {
    let eq = if cx.is_eq(id) { quote!(Eq,) } else { quote!() };
    let default = if fields.iter().all(|f| f.member.optional) {
        quote!(Default,)
    } else {
        quote!()
    };
    let copy = if unit { quote!(Copy,) } else { quote!() };
    quote!(#[derive(Debug, Clone, #copy PartialEq, #eq #default)])
}

/// `#[allow(clippy::disallowed_names)]` where generated code binds a
/// name from the schema that clippy refuses by default (`foo`, `baz`,
/// `quux`).
pub(crate) fn placeholder_allow<'i>(idents: impl IntoIterator<Item = &'i Ident>) -> TokenStream {
    if idents
        .into_iter()
        .any(|i| matches!(i.to_string().as_str(), "foo" | "baz" | "quux"))
    {
        quote!(#[allow(clippy::disallowed_names)])
    } else {
        quote!()
    }
}

/// `#[allow(deprecated)]` when a deprecated field is touched.
pub(crate) fn allow_deprecated(cx: &Context<'_>, fields: &[Field<'_>]) -> TokenStream {
    if fields
        .iter()
        .any(|f| !cx.deprecated_attr(&f.member.features).is_empty())
    {
        quote!(#[allow(deprecated)])
    } else {
        quote!()
    }
}

/// The `Visit`, `VisitMembers`, `ToValue`, `OutputMembers` impls of an
/// object type whose members are `fields` and whose extra part (a union's
/// branch) is handled by `extra_read` / `extra_write`.
pub(crate) fn object_impls(
    cx: &Context<'_>,
    name: &TokenStream,
    fields: &[Field<'_>],
    extra_read: TokenStream,
    extra_field: TokenStream,
    extra_write: TokenStream,
) -> TokenStream {
    let rt = &cx.rt;
    let reads = field_reads(cx, fields);
    let writes = field_writes(cx, fields, quote!(self));
    let inits = fields.iter().map(|f| {
        let attr = f.cond.attr();
        let ident = &f.ident;
        quote!(#attr #ident,)
    });
    let allow = allow_deprecated(cx, fields);
    let (input_name, object_name) = if fields.is_empty() && extra_read.is_empty() {
        (quote!(_input), quote!(_object))
    } else {
        (quote!(input), quote!(object))
    };
    let write_names = if fields.is_empty() && extra_write.is_empty() {
        (quote!(_out), quote!(_object))
    } else {
        (quote!(out), quote!(object))
    };
    let (wout, wobj) = write_names;
    let placeholders = placeholder_allow(fields.iter().map(|f| &f.ident));
    // When a cfg may leave out every field, the parameters may be unused.
    let all_cfg = !fields.is_empty() && fields.iter().all(|f| matches!(f.cond, Resolved::Cfg(_)));
    let read_unused = if all_cfg && extra_read.is_empty() {
        quote!(let _ = (&input, &object);)
    } else {
        quote!()
    };
    let write_unused = if all_cfg && extra_write.is_empty() {
        quote!(let _ = (out, &object);)
    } else {
        quote!()
    };
    quote! {
        #allow
        #placeholders
        impl #rt::input::VisitMembers for #name {
            fn visit_members(#input_name: &mut #rt::Input, #object_name: &mut #rt::input::Object) -> Result<Self, #rt::InputError> {
                #read_unused
                #reads
                #extra_read
                Ok(Self { #(#inits)* #extra_field })
            }
        }

        impl #rt::Visit for #name {
            fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                input.object(name, value)
            }
        }

        #allow
        impl #rt::output::OutputMembers for #name {
            fn output_members(&self, #wout: &#rt::Output, #wobj: &mut #rt::Map<String, #rt::Value>) {
                #write_unused
                #writes
                #extra_write
            }
        }

        impl #rt::ToValue for #name {
            fn to_value(&self, out: &#rt::Output) -> #rt::Value {
                #rt::output::object(self, out)
            }
        }
    }
}

fn features_const(cx: &Context<'_>, e: &Entity, name: &Ident) -> TokenStream {
    let _ = cx;
    if e.features.is_empty() {
        return quote!();
    }
    let f = e.features.iter().map(|f| f.name.as_str());
    quote! {
        impl #name {
            /// The type's QAPI features.
            pub const FEATURES: &'static [&'static str] = &[#(#f),*];
        }
    }
}

fn structure(
    cx: &Context<'_>,
    id: EntityId,
    e: &Entity,
    name: &Ident,
    o: &ObjectType,
) -> TokenStream {
    let fields = fields(cx, o.members.iter(), &[]);
    let docs = cx.item_docs(e);
    let user = cx.user_attrs(&e.name);
    let derives = object_derives(cx, id, &fields, false);
    let decls = field_decls(cx, id, &fields, false);
    let impls = object_impls(cx, &quote!(#name), &fields, quote!(), quote!(), quote!());
    let features = features_const(cx, e, name);
    quote! {
        #docs
        #derives
        #user
        pub struct #name {
            #decls
        }
        #impls
        #features
    }
}

/// A union's branches that exist for some configuration: (branch, the
/// variant's ident, condition, payload type or `None` for no members).
pub(crate) struct Variant<'b> {
    pub branch: &'b Branch,
    pub ident: Ident,
    pub method: Ident,
    pub cond: Resolved,
    pub payload: Option<TokenStream>,
    pub tag_value: Ident,
}

pub(crate) fn variants<'b>(
    cx: &Context<'_>,
    id: EntityId,
    tag_enum: EntityId,
    branches: &'b [Branch],
    up: bool,
) -> Vec<Variant<'b>> {
    let mut ns = cx.variant_namespace();
    let mut methods = names::Namespace::with_reserved(&["dispatch"]);
    let tag_values: &[EnumValue] = match &cx.schema.entity(tag_enum).kind {
        EntityKind::Enum { values, .. } => values,
        _ => &[],
    };
    branches
        .iter()
        .filter_map(|b| {
            let value_cond = tag_values
                .iter()
                .find(|v| v.name == b.name)
                .map(|v| {
                    cx.cfg_map
                        .resolve(v.ifcond.as_ref())
                        .and(&cx.special_gate(&v.features))
                })
                .unwrap_or(Resolved::Always);
            let cond = cx
                .cfg_map
                .resolve(b.ifcond.as_ref())
                .and(&value_cond)
                .and(&cx.ref_cond(Some(id), b.ty));
            let ident = format_ident!("{}", ns.claim(names::variant_name(&b.name)));
            let method = names::ident(&methods.claim(names::member_name(&b.name)));
            if !cond.is_possible() {
                return None;
            }
            let empty = cx.schema.entity(b.ty).name == "q_empty";
            let payload = (!empty).then(|| cx.field_type(id, b.ty, up));
            let tag_value = cx
                .enum_variant(tag_enum, &b.name)
                .cloned()
                .unwrap_or_else(|| ident.clone());
            Some(Variant {
                branch: b,
                ident,
                method,
                cond,
                payload,
                tag_value,
            })
        })
        .collect()
}

fn union(cx: &Context<'_>, id: EntityId, e: &Entity, name: &Ident, o: &ObjectType) -> TokenStream {
    let rt = &cx.rt;
    let Some(u) = &o.union else { return quote!() };
    let Some(tag_index) = o.members.iter().position(|m| m.name == u.tag) else {
        return quote!();
    };
    let tag_member = &o.members[tag_index];
    let tag_ty = tag_member.ty;
    let tag_enum = cx.type_ref(tag_ty, false);
    let doc = cx.schema.doc_of(e);
    let branch_name = &cx.names.branches[&id];
    // The tag is a field of its own only in name: its value lives in the
    // branch enum. Other members keep their order.
    let all = fields(cx, o.members.iter(), &[]);
    let tag_ident = all
        .iter()
        .find(|f| f.member.name == u.tag)
        .map(|f| f.ident.clone())
        .unwrap_or_else(|| format_ident!("branch"));
    let plain: Vec<Field<'_>> = all.into_iter().filter(|f| f.member.name != u.tag).collect();
    let variants = variants(cx, id, tag_ty, &u.branches, false);
    let docs = cx.item_docs(e);
    let user = cx.user_attrs(&e.name);
    let eq = if cx.is_eq(id) { quote!(Eq,) } else { quote!() };
    let decls = field_decls(cx, id, &plain, false);
    let tag_doc = cx.member_docs(
        cx.member_doc_owner(&tag_member.defined_in),
        &tag_member.name,
        &[],
    );
    let tag_wire = &u.tag;
    let var_defs = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let ident = &v.ident;
        let vdoc = cx.member_docs(doc, &v.branch.name, &[]);
        match &v.payload {
            Some(t) => quote!(#vdoc #attr #ident(#t),),
            None => quote!(#vdoc #attr #ident,),
        }
    });
    let tag_arms = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let ident = &v.ident;
        let tv = &v.tag_value;
        match &v.payload {
            Some(_) => quote!(#attr Self::#ident(_) => #tag_enum::#tv,),
            None => quote!(#attr Self::#ident => #tag_enum::#tv,),
        }
    });
    let read_arms = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let ident = &v.ident;
        let tv = &v.tag_value;
        match &v.payload {
            Some(_) => quote! {
                #attr #tag_enum::#tv => #branch_name::#ident(#rt::input::VisitMembers::visit_members(input, object)?),
            },
            None => quote!(#attr #tag_enum::#tv => #branch_name::#ident,),
        }
    });
    let unknown_arm = if cx.options.open_enums {
        quote!(#tag_enum::Unknown(s) => return Err(input.bad_enum_value(Some(#tag_wire), &s)),)
    } else {
        quote!()
    };
    // A discriminator value whose branch this configuration leaves out
    // while keeping the value (a branch `if` the value lacks, a branch
    // type left out) has no variant: refuse it as QEMU refuses unknown
    // values.
    let uncovered = match &cx.schema.entity(tag_ty).kind {
        EntityKind::Enum { values, .. } => values.iter().any(|v| {
            let value_cond = cx
                .cfg_map
                .resolve(v.ifcond.as_ref())
                .and(&cx.special_gate(&v.features));
            value_cond.is_possible()
                && !variants.iter().any(|var| {
                    var.branch.name == v.name
                        && match (&var.cond, &value_cond) {
                            (Resolved::Always, Resolved::Always) => true,
                            (Resolved::Cfg(a), Resolved::Cfg(b)) => a == b,
                            _ => false,
                        }
                })
        }),
        _ => false,
    };
    let uncovered_arm = if uncovered {
        quote! {
            #[allow(unreachable_patterns)]
            other => return Err(input.bad_enum_value(Some(#tag_wire), other.as_str())),
        }
    } else {
        quote!()
    };
    // Read every member in schema order; the tag in its place.
    let reads = plain_and_tag_reads(cx, &plain, (tag_member, tag_index), &tag_ident, &tag_enum);
    let extra_read = quote! {
        let #tag_ident = match #tag_ident {
            #(#read_arms)*
            #unknown_arm
            #uncovered_arm
        };
    };
    let write_arms = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let ident = &v.ident;
        match &v.payload {
            Some(_) => quote!(#attr #branch_name::#ident(b) => #rt::output::OutputMembers::output_members(b, out, object),),
            None => quote!(#attr #branch_name::#ident => {}),
        }
    });
    let writes = plain_and_tag_writes(cx, &plain, (tag_member, tag_index), &tag_ident);
    let inits = plain.iter().map(|f| {
        let attr = f.cond.attr();
        let ident = &f.ident;
        quote!(#attr #ident,)
    });
    let tag_deprecated = match &cx.schema.entity(tag_ty).kind {
        EntityKind::Enum { values, .. } => values
            .iter()
            .any(|v| !cx.deprecated_attr(&v.features).is_empty()),
        _ => false,
    };
    let allow = if tag_deprecated {
        quote!(#[allow(deprecated)])
    } else {
        allow_deprecated(cx, &plain)
    };
    let placeholders = placeholder_allow(plain.iter().map(|f| &f.ident).chain([&tag_ident]));
    // `out` is unused when nothing but the tag is written.
    let out_used = plain.iter().any(|f| matches!(f.cond, Resolved::Always))
        || variants
            .iter()
            .any(|v| v.payload.is_some() && matches!(v.cond, Resolved::Always));
    let out_unused = if out_used {
        quote!()
    } else {
        quote!(let _ = out;)
    };
    // When a cfg may leave out every branch, match the branch by value
    // (an empty match on a reference is refused), and reading may end
    // with an error before the value is built.
    let all_cfg = variants.iter().all(|v| matches!(v.cond, Resolved::Cfg(_)));
    let (tag_body, write_body, read_allow) = if all_cfg {
        let write_arms = variants.iter().map(|v| {
            let attr = v.cond.attr();
            let ident = &v.ident;
            match &v.payload {
                Some(_) => quote!(#attr #branch_name::#ident(ref b) => #rt::output::OutputMembers::output_members(b, out, object),),
                None => quote!(#attr #branch_name::#ident => {}),
            }
        });
        (
            quote!(match *self { #(#tag_arms)* }),
            quote!(#out_unused match self.#tag_ident { #(#write_arms)* }),
            quote!(#[allow(unreachable_code, unused_variables)]),
        )
    } else {
        (
            quote!(match self { #(#tag_arms)* }),
            quote!(#out_unused match &self.#tag_ident { #(#write_arms)* }),
            quote!(),
        )
    };
    let features = features_const(cx, e, name);
    let branch_doc = format!(" The branches of [`{name}`], chosen by its `{tag_wire}`.");
    let large = quote!(#[allow(clippy::large_enum_variant)]);
    let branch_eq = eq.clone();
    let handler = handler_trait(
        cx,
        id,
        e,
        name,
        branch_name,
        &plain,
        &variants,
        &tag_ident,
        &allow,
    );
    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq, #eq)]
        #user
        pub struct #name {
            #decls
            #tag_doc
            pub #tag_ident: #branch_name,
        }

        #[doc = #branch_doc]
        #[derive(Debug, Clone, PartialEq, #branch_eq)]
        #large
        pub enum #branch_name {
            #(#var_defs)*
        }

        #allow
        impl #branch_name {
            /// The discriminator value of this branch.
            pub fn tag(&self) -> #tag_enum {
                #tag_body
            }
        }

        #allow
        #read_allow
        #placeholders
        impl #rt::input::VisitMembers for #name {
            fn visit_members(input: &mut #rt::Input, object: &mut #rt::input::Object) -> Result<Self, #rt::InputError> {
                #reads
                #extra_read
                Ok(Self { #(#inits)* #tag_ident })
            }
        }

        impl #rt::Visit for #name {
            fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                input.object(name, value)
            }
        }

        #allow
        impl #rt::output::OutputMembers for #name {
            fn output_members(&self, out: &#rt::Output, object: &mut #rt::Map<String, #rt::Value>) {
                #writes
                #write_body
            }
        }

        impl #rt::ToValue for #name {
            fn to_value(&self, out: &#rt::Output) -> #rt::Value {
                #rt::output::object(self, out)
            }
        }

        #features
        #handler
    }
}

/// Reads of a union's base members in schema order, the tag in its
/// place (read as the discriminator enum).
fn plain_and_tag_reads(
    cx: &Context<'_>,
    plain: &[Field<'_>],
    tag: (&Member, usize),
    tag_ident: &Ident,
    tag_enum: &TokenStream,
) -> TokenStream {
    let (tag, tag_index) = tag;
    let mut out = TokenStream::new();
    let mut tag_done = false;
    for f in plain {
        if !tag_done && f.index > tag_index {
            let wire = &tag.name;
            out.extend(quote!(let #tag_ident: #tag_enum = input.member(object, #wire)?;));
            tag_done = true;
        }
        out.extend(field_reads(cx, std::slice::from_ref(f)));
    }
    if !tag_done {
        let wire = &tag.name;
        out.extend(quote!(let #tag_ident: #tag_enum = input.member(object, #wire)?;));
    }
    out
}

fn plain_and_tag_writes(
    cx: &Context<'_>,
    plain: &[Field<'_>],
    tag: (&Member, usize),
    tag_ident: &Ident,
) -> TokenStream {
    let (tag, tag_index) = tag;
    let rt = &cx.rt;
    let wire = &tag.name;
    let tag_write = quote!(object.insert(#wire.into(), #rt::Value::String(self.#tag_ident.tag().as_str().to_owned())););
    let mut out = TokenStream::new();
    let mut tag_done = false;
    for f in plain {
        if !tag_done && f.index > tag_index {
            out.extend(tag_write.clone());
            tag_done = true;
        }
        out.extend(field_writes(cx, std::slice::from_ref(f), quote!(self)));
    }
    if !tag_done {
        out.extend(tag_write);
    }
    out
}

/// The per-branch handler trait of a union used as a boxed command
/// argument: one method per branch, so a new branch in the schema is a
/// compile error until handled.
#[allow(clippy::too_many_arguments)]
fn handler_trait(
    cx: &Context<'_>,
    id: EntityId,
    e: &Entity,
    name: &Ident,
    branch_name: &Ident,
    plain: &[Field<'_>],
    variants: &[Variant<'_>],
    tag_ident: &Ident,
    allow: &TokenStream,
) -> TokenStream {
    let used_boxed = cx.schema.entities.iter().any(|c| match &c.kind {
        EntityKind::Command(cmd) => cmd.boxed && cmd.arg_type == Some(id),
        _ => false,
    });
    if !used_boxed {
        return quote!();
    }
    let trait_name = format_ident!("{}Handler", name);
    let has_cond_fields = plain.iter().any(|f| matches!(f.cond, Resolved::Cfg(_)));
    let params: Vec<TokenStream> = plain
        .iter()
        .map(|f| {
            let ident = &f.ident;
            let ty = cx.field_type(id, f.member.ty, false);
            let ty = if f.member.optional {
                quote!(Option<#ty>)
            } else {
                ty
            };
            let attr = f.cond.attr();
            quote!(#attr #ident: #ty)
        })
        .collect();
    let args: Vec<TokenStream> = plain
        .iter()
        .map(|f| {
            let ident = &f.ident;
            quote!(self.#ident)
        })
        .collect();
    let _ = has_cond_fields;
    let methods = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let m = &v.method;
        let doc = format!(" Handles the `{}` branch.", v.branch.name);
        let many = if params.len() + usize::from(v.payload.is_some()) > 6 {
            quote!(#[allow(clippy::too_many_arguments)])
        } else {
            quote!()
        };
        match &v.payload {
            Some(t) => quote!(#[doc = #doc] #attr #many fn #m(self, #(#params,)* options: #t) -> Self::Output;),
            None => quote!(#[doc = #doc] #attr #many fn #m(self, #(#params),*) -> Self::Output;),
        }
    });
    let arms = variants.iter().map(|v| {
        let attr = v.cond.attr();
        let m = &v.method;
        let ident = &v.ident;
        match &v.payload {
            Some(_) => {
                quote!(#attr #branch_name::#ident(options) => handler.#m(#(#args,)* options),)
            }
            None => quote!(#attr #branch_name::#ident => handler.#m(#(#args),*),),
        }
    });
    let unused = if variants.iter().all(|v| matches!(v.cond, Resolved::Cfg(_))) {
        quote!(let _ = &handler;)
    } else {
        quote!()
    };
    let doc = format!(
        " One method per branch of [`{name}`]: implement it (for `&mut YourType`, or for `&YourType` with a future as `Output`) and call [`{name}::dispatch`]."
    );
    let _ = e;
    quote! {
        #[doc = #doc]
        pub trait #trait_name {
            /// What every branch's handler returns.
            type Output;
            #(#methods)*
        }

        #allow
        impl #name {
            /// Calls the handler method of this value's branch.
            pub fn dispatch<H: #trait_name>(self, handler: H) -> H::Output {
                #unused
                match self.#tag_ident {
                    #(#arms)*
                }
            }
        }
    }
}

fn alternate(
    cx: &Context<'_>,
    id: EntityId,
    e: &Entity,
    name: &Ident,
    branches: &[Branch],
) -> TokenStream {
    let rt = &cx.rt;
    let doc = cx.schema.doc_of(e);
    let docs = cx.item_docs(e);
    let user = cx.user_attrs(&e.name);
    let mut ns = cx.variant_namespace();
    let eq = if cx.is_eq(id) { quote!(Eq,) } else { quote!() };
    let qname = &e.name;
    let mut defs = Vec::new();
    let mut arms = Vec::new();
    let mut writes = Vec::new();
    let mut ref_writes = Vec::new();
    let mut all_cfg = true;
    for b in branches {
        let cond = cx
            .cfg_map
            .resolve(b.ifcond.as_ref())
            .and(&cx.ref_cond(Some(id), b.ty));
        if !cond.is_possible() {
            continue;
        }
        let ident = format_ident!("{}", ns.claim(names::variant_name(&b.name)));
        let ty = cx.field_type(id, b.ty, false);
        let attr = cond.attr();
        let vdoc = cx.member_docs(doc, &b.name, &[]);
        defs.push(quote!(#vdoc #attr #ident(#ty),));
        let pattern = match json_kind(cx, b.ty) {
            JsonKind::Object => quote!(#rt::Value::Object(_)),
            JsonKind::Array => quote!(#rt::Value::Array(_)),
            JsonKind::String => quote!(#rt::Value::String(_)),
            JsonKind::Number => quote!(#rt::Value::Number(_)),
            JsonKind::Bool => quote!(#rt::Value::Bool(_)),
            JsonKind::Null => quote!(#rt::Value::Null),
            JsonKind::Any => quote!(_),
        };
        let read = match cx.visit_fn(b.ty) {
            Some(f) => quote!((#f)(input, name, value)?),
            None => quote!(#rt::Visit::visit(input, name, value)?),
        };
        arms.push(quote!(#attr #pattern => Ok(Self::#ident(#read)),));
        writes.push(quote!(#attr Self::#ident(v) => #rt::ToValue::to_value(v, out),));
        ref_writes.push(quote!(#attr Self::#ident(ref v) => #rt::ToValue::to_value(v, out),));
        all_cfg &= matches!(cond, Resolved::Cfg(_));
    }
    // A cfg may leave out every branch: match the value, not the
    // reference (an empty match on a reference is refused).
    let to_value_body = if all_cfg {
        quote!({ let _ = out; match *self { #(#ref_writes)* } })
    } else {
        quote!(match self { #(#writes)* })
    };
    quote! {
        #docs
        #[derive(Debug, Clone, PartialEq, #eq)]
        #[allow(clippy::large_enum_variant)]
        #user
        pub enum #name {
            #(#defs)*
        }

        impl #rt::Visit for #name {
            fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                #[allow(unreachable_patterns)]
                match &value {
                    #(#arms)*
                    _ => Err(input.alternate_mismatch(name, #qname)),
                }
            }
        }

        impl #rt::ToValue for #name {
            fn to_value(&self, out: &#rt::Output) -> #rt::Value {
                #to_value_body
            }
        }
    }
}

/// The JSON type a branch of an alternate is chosen by.
enum JsonKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
    Any,
}

fn json_kind(cx: &Context<'_>, ty: EntityId) -> JsonKind {
    match &cx.schema.entity(ty).kind {
        EntityKind::Builtin { json_type } => match json_type {
            JsonType::String => JsonKind::String,
            JsonType::Number | JsonType::Int => JsonKind::Number,
            JsonType::Boolean => JsonKind::Bool,
            JsonType::Null => JsonKind::Null,
            JsonType::Value => JsonKind::Any,
        },
        EntityKind::Enum { .. } => JsonKind::String,
        EntityKind::Array { .. } => JsonKind::Array,
        _ => JsonKind::Object,
    }
}

/// The shape of a command's request type or an event's data type.
pub(crate) enum Message<'m> {
    /// No arguments: a unit struct, `{}` on the wire.
    Unit,
    /// A named type taken whole (`'boxed': true`): a newtype around it.
    Newtype(TokenStream),
    /// The members of the argument type, as fields.
    Fields(Vec<Field<'m>>),
}

/// The type a command's arguments or an event's data travel in, named
/// `name` in the `commands` or `events` module: a unit struct, a newtype
/// around a boxed named type, or a struct of the argument type's members.
pub(crate) fn message_type<'a>(
    cx: &Context<'a>,
    e: &Entity,
    name: &Ident,
    arg: Option<EntityId>,
    boxed: bool,
) -> (TokenStream, Message<'a>) {
    let rt = &cx.rt;
    let docs = cx.item_docs(e);
    let dep = cx.deprecated_attr(&e.features);
    let allow = if dep.is_empty() {
        quote!()
    } else {
        quote!(#[allow(deprecated)])
    };
    match arg {
        None => (
            quote! {
                #docs
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
                #dep
                pub struct #name;

                #allow
                impl #rt::Visit for #name {
                    fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                        let object = input.start_struct(name, value)?;
                        input.end_struct(object)?;
                        Ok(Self)
                    }
                }

                #allow
                impl #rt::ToValue for #name {
                    fn to_value(&self, _: &#rt::Output) -> #rt::Value {
                        #rt::Value::Object(#rt::Map::new())
                    }
                }
            },
            Message::Unit,
        ),
        Some(arg) if boxed && cx.names.types.contains_key(&arg) => {
            let ty = cx.type_ref(arg, true);
            let eq = if cx.is_eq(arg) { quote!(Eq,) } else { quote!() };
            (
                quote! {
                    #docs
                    #[derive(Debug, Clone, PartialEq, #eq)]
                    #dep
                    pub struct #name(pub #ty);

                    #allow
                    impl #rt::Visit for #name {
                        fn visit(input: &mut #rt::Input, name: Option<&'static str>, value: #rt::Value) -> Result<Self, #rt::InputError> {
                            #rt::Visit::visit(input, name, value).map(Self)
                        }
                    }

                    #allow
                    impl #rt::ToValue for #name {
                        fn to_value(&self, out: &#rt::Output) -> #rt::Value {
                            #rt::ToValue::to_value(&self.0, out)
                        }
                    }
                },
                Message::Newtype(ty),
            )
        }
        Some(arg) => {
            let members = match &cx.schema.entity(arg).kind {
                EntityKind::Object(o) => &o.members[..],
                _ => &[],
            };
            let fields = fields(cx, members.iter(), &[]);
            let derives = object_derives(cx, arg, &fields, false);
            let decls = field_decls(cx, arg, &fields, true);
            let impls = spread_cfg(
                &allow,
                object_impls(cx, &quote!(#name), &fields, quote!(), quote!(), quote!()),
            );
            (
                quote! {
                    #docs
                    #derives
                    #dep
                    pub struct #name {
                        #decls
                    }
                    #impls
                },
                Message::Fields(fields),
            )
        }
    }
}
