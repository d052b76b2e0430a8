//! Events: a data type per event, the `Event` enum of all of them.

use proc_macro2::TokenStream;
use qapi_parser::ir::{EntityId, EntityKind};
use quote::quote;

use super::model::Context;
use super::types;
use crate::cfg::Resolved;
use crate::names::{self, Namespace};

pub(crate) fn generate(cx: &Context<'_>) -> TokenStream {
    let rt = &cx.rt;
    let mut out = TokenStream::new();
    let mut variants = Vec::new();
    let mut name_arms = Vec::new();
    let mut special_arms = Vec::new();
    let mut data_arms = Vec::new();
    let mut parse_arms = Vec::new();
    let mut serde_types = Vec::new();
    let mut variant_ns = Namespace::default();
    let mut any_deprecated = false;
    // Whether an event with data is always there (else `out` may be
    // unused).
    let mut any_data = false;
    // Whether a cfg may leave out every event.
    let mut all_cfg = true;
    let mut ref_data_arms = Vec::new();
    for (i, e) in cx.schema.entities.iter().enumerate() {
        let id = EntityId(i as u32);
        let EntityKind::Event(ev) = &e.kind else {
            continue;
        };
        let cond = cx.cond(id);
        if !cond.is_possible() {
            continue;
        }
        let name = &cx.names.events[&id];
        let variant = quote::format_ident!("{}", variant_ns.claim(names::type_name(&e.name)));
        let attr = cond.attr();
        let dep = cx.deprecated_attr(&e.features);
        let allow = if dep.is_empty() {
            quote!()
        } else {
            quote!(#[allow(deprecated)])
        };
        any_deprecated |= !dep.is_empty();
        let wire = &e.name;
        let (item, shape) = types::message_type(cx, e, name, ev.arg_type, ev.boxed);
        let has_data = !matches!(shape, types::Message::Unit);
        out.extend(types::spread_cfg(&attr, item));
        serde_types.push((quote!(#attr #allow), quote!(#name)));
        let vdoc = format!(" [`{name}`]");
        variants.push(quote!(#[doc = #vdoc] #attr #dep #variant(#name),));
        out.extend(quote! {
            #attr
            #allow
            impl From<#name> for Event {
                fn from(e: #name) -> Self {
                    Event::#variant(e)
                }
            }
        });
        name_arms.push(quote!(#attr Event::#variant(_) => #wire,));
        if let Some(s) = cx.special(&e.features) {
            special_arms.push(quote!(#attr Event::#variant(_) => #s,));
        }
        any_data |= has_data && matches!(cond, Resolved::Always);
        all_cfg &= matches!(cond, Resolved::Cfg(_));
        data_arms.push(if has_data {
            quote!(#attr Event::#variant(d) => Some(#rt::ToValue::to_value(d, out)),)
        } else {
            quote!(#attr Event::#variant(_) => None,)
        });
        ref_data_arms.push(if has_data {
            quote!(#attr Event::#variant(ref d) => Some(#rt::ToValue::to_value(d, out)),)
        } else {
            quote!(#attr Event::#variant(_) => None,)
        });
        parse_arms.push(quote! {
            #attr
            #wire => input
                .read::<#name>(data.unwrap_or_else(|| #rt::Value::Object(#rt::Map::new())))
                .map(Event::#variant),
        });
    }
    out.extend(types::serde_impls(cx, &serde_types));
    let allow = if any_deprecated {
        quote!(#[allow(deprecated)])
    } else {
        quote!()
    };
    let empty = variants.is_empty();
    let parse_allow = if all_cfg && !empty {
        quote!(#[allow(unreachable_code)])
    } else {
        quote!()
    };
    let special_body = if special_arms.is_empty() {
        quote!(#rt::Special::NONE)
    } else {
        quote! {
            #[allow(unreachable_patterns)]
            match self {
                #(#special_arms)*
                _ => #rt::Special::NONE,
            }
        }
    };
    let (name_body, special_body, data_body, parse_body) = if empty {
        (
            quote!(match *self {}),
            quote!(match *self {}),
            quote!({
                let _ = out;
                match *self {}
            }),
            quote!({
                let _ = (name, data, input);
                None
            }),
        )
    } else if all_cfg {
        // Match values, not references (an empty match on a reference is
        // refused); reading may only return.
        (
            quote!(match *self { #(#name_arms)* }),
            special_body,
            quote!({ let _ = out; match *self { #(#ref_data_arms)* } }),
            quote! {
                let _ = (&data, &input);
                Some(match name {
                    #(#parse_arms)*
                    _ => return None,
                })
            },
        )
    } else {
        (
            quote!(match self { #(#name_arms)* }),
            special_body,
            if any_data {
                quote!(match self { #(#data_arms)* })
            } else {
                quote!({ let _ = out; match self { #(#data_arms)* } })
            },
            quote! {
                Some(match name {
                    #(#parse_arms)*
                    _ => return None,
                })
            },
        )
    };
    out.extend(quote! {
        /// Every event of the schema.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        #allow
        pub enum Event {
            #(#variants)*
        }

        #allow
        impl #rt::Event for Event {
            fn name(&self) -> &'static str {
                #name_body
            }

            fn special(&self) -> #rt::Special {
                #special_body
            }

            fn data(&self, out: &#rt::Output) -> Option<#rt::Value> {
                #data_body
            }

            #parse_allow
            fn parse(name: &str, data: Option<#rt::Value>, input: &mut #rt::Input) -> Option<Result<Self, #rt::InputError>> {
                #parse_body
            }
        }
    });
    out
}
