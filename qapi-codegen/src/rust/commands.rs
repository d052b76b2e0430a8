//! Commands: request types (client side), the `Commands` and
//! `AsyncCommands` traits and their dispatchers (server side), and the
//! metadata table.

use proc_macro2::{Ident, TokenStream};
use qapi_parser::ir::{Command, Entity, EntityId, EntityKind};
use quote::quote;

use super::model::Context;
use super::types::{self, Field, Message};
use crate::cfg::Resolved;
use crate::names::{self, Namespace};

/// How a command's handler receives its arguments.
enum Params<'m> {
    /// No arguments.
    None,
    /// The boxed argument type whole.
    Boxed(TokenStream),
    /// The request type whole (some arguments are conditional, and Rust
    /// has no conditional call arguments).
    Request,
    /// One parameter per argument.
    Each(Vec<Field<'m>>),
}

struct Cmd<'a> {
    entity: &'a Entity,
    command: &'a Command,
    name: Ident,
    method: Ident,
    cond: Resolved,
    params: Params<'a>,
    returns: TokenStream,
    index: usize,
}

pub(crate) fn generate<'a>(cx: &Context<'a>) -> TokenStream {
    let rt = &cx.rt;
    let mut methods = Namespace::default();
    let mut cmds = Vec::new();
    let mut out = TokenStream::new();
    let mut infos = Vec::new();
    let mut serde_types = Vec::new();
    for (i, e) in cx.schema.entities.iter().enumerate() {
        let id = EntityId(i as u32);
        let EntityKind::Command(c) = &e.kind else {
            continue;
        };
        let cond = cx.cond(id);
        if !cond.is_possible() {
            continue;
        }
        let name = cx.names.commands[&id].clone();
        let method = names::ident(&methods.claim(names::member_name(&e.name)));
        let (request, params) = request_type(cx, e, c, &name);
        let attr = cond.attr();
        out.extend(types::spread_cfg(&attr, request));
        let allow = if cx.deprecated_attr(&e.features).is_empty() {
            quote!()
        } else {
            quote!(#[allow(deprecated)])
        };
        serde_types.push((quote!(#attr #allow), quote!(#name)));
        let returns = match c.ret_type {
            Some(t) => cx.type_ref(t, true),
            None => quote!(()),
        };
        infos.push(info(cx, e, c, &cond));
        cmds.push(Cmd {
            entity: e,
            command: c,
            name,
            method,
            cond,
            params,
            returns,
            index: infos.len() - 1,
        });
    }
    out.extend(types::serde_impls(cx, &serde_types));
    let lookup_arms: Vec<TokenStream> = cmds
        .iter()
        .map(|c| {
            let wire = &c.entity.name;
            let i = proc_macro2::Literal::usize_unsuffixed(c.index);
            quote!(#wire => &COMMANDS[#i],)
        })
        .collect();
    let lookup = if lookup_arms.is_empty() {
        quote!(let _ = name; None)
    } else {
        quote! {
            let info = match name {
                #(#lookup_arms)*
                _ => return None,
            };
            Some(info).filter(|c| c.enabled)
        }
    };
    for cmd in &cmds {
        out.extend(command_impl(cx, cmd));
    }
    out.extend(quote! {
        /// Every command of the schema, with its metadata; `enabled` tells
        /// whether this build has it.
        pub const COMMANDS: &[#rt::CommandInfo] = &[#(#infos),*];

        /// The metadata of the command `name`, if this build has it (a
        /// `match`, not a scan: servers ask once per message).
        pub fn command_info(name: &str) -> Option<&'static #rt::CommandInfo> {
            #lookup
        }
    });
    if cx.options.parts.server {
        out.extend(server(cx, &cmds));
        if cx.options.qmp_service {
            out.extend(qmp_service(cx));
        }
    }
    out
}

fn info(cx: &Context<'_>, e: &Entity, c: &Command, cond: &Resolved) -> TokenStream {
    let rt = &cx.rt;
    let name = &e.name;
    let special = cx
        .special(&e.features)
        .unwrap_or_else(|| quote!(#rt::Special::NONE));
    let features = e.features.iter().map(|f| f.name.as_str());
    let enabled = match cond {
        Resolved::Cfg(p) => {
            let p = p.tokens();
            quote!(cfg!(#p))
        }
        _ => quote!(true),
    };
    let (sr, oob, pre, co, gen) = (
        c.success_response,
        c.allow_oob,
        c.allow_preconfig,
        c.coroutine,
        c.gen,
    );
    quote! {
        #rt::CommandInfo {
            name: #name,
            special: #special,
            features: &[#(#features),*],
            success_response: #sr,
            allow_oob: #oob,
            allow_preconfig: #pre,
            coroutine: #co,
            gen: #gen,
            enabled: #enabled,
        }
    }
}

/// The request type of a command and how its handler takes arguments.
fn request_type<'a>(
    cx: &Context<'a>,
    e: &'a Entity,
    c: &'a Command,
    name: &Ident,
) -> (TokenStream, Params<'a>) {
    let (item, shape) = types::message_type(cx, e, name, c.arg_type, c.boxed);
    let params = match shape {
        Message::Unit => Params::None,
        Message::Newtype(ty) => Params::Boxed(ty),
        Message::Fields(fields) => {
            // Boxed commands with inline arguments (QAPI requires boxing
            // for conditional ones) take the request type whole.
            let conditional = fields.iter().any(|f| matches!(f.cond, Resolved::Cfg(_)));
            if conditional || c.boxed {
                Params::Request
            } else {
                Params::Each(fields)
            }
        }
    };
    (item, params)
}

fn command_impl(cx: &Context<'_>, cmd: &Cmd<'_>) -> TokenStream {
    let rt = &cx.rt;
    let name = &cmd.name;
    let wire = &cmd.entity.name;
    let returns = &cmd.returns;
    let attr = cmd.cond.attr();
    let index = proc_macro2::Literal::usize_unsuffixed(cmd.index);
    let allow = if cx.deprecated_attr(&cmd.entity.features).is_empty() {
        quote!()
    } else {
        quote!(#[allow(deprecated)])
    };
    quote! {
        #attr
        #allow
        impl #rt::Command for #name {
            const NAME: &'static str = #wire;
            type Returns = #returns;
            fn info() -> &'static #rt::CommandInfo {
                &COMMANDS[#index]
            }
        }
    }
}

/// The method signature's parameters, their names, and the call's
/// arguments (taken out of the request value `a`).
fn params_and_args(
    cx: &Context<'_>,
    cmd: &Cmd<'_>,
) -> Vec<(TokenStream, TokenStream, TokenStream)> {
    let name = &cmd.name;
    match &cmd.params {
        Params::None => vec![],
        Params::Boxed(ty) => vec![(quote!(arguments: #ty), quote!(arguments), quote!(a.0))],
        Params::Request => vec![(quote!(arguments: #name), quote!(arguments), quote!(a))],
        Params::Each(fields) => {
            let arg = cmd.command.arg_type.unwrap_or(EntityId(0));
            fields
                .iter()
                .map(|f| {
                    let ident = &f.ident;
                    let ty = cx.field_type(arg, f.member.ty, true);
                    let ty = if f.member.optional {
                        quote!(Option<#ty>)
                    } else {
                        ty
                    };
                    (quote!(#ident: #ty), quote!(#ident), quote!(a.#ident))
                })
                .collect()
        }
    }
}

fn server(cx: &Context<'_>, cmds: &[Cmd<'_>]) -> TokenStream {
    let rt = &cx.rt;
    let served: Vec<&Cmd<'_>> = cmds.iter().filter(|c| c.command.gen).collect();
    let mut sync_methods = Vec::new();
    let mut async_methods = Vec::new();
    let mut mutex_methods = Vec::new();
    let mut sync_arms = Vec::new();
    let mut async_arms = Vec::new();
    for cmd in &served {
        let m = &cmd.method;
        let attr = cmd.cond.attr();
        let dep = cx.deprecated_attr(&cmd.entity.features);
        let docs = cx.item_docs(cmd.entity);
        let returns = &cmd.returns;
        let triples = params_and_args(cx, cmd);
        let params: Vec<&TokenStream> = triples.iter().map(|t| &t.0).collect();
        let names_only: Vec<&TokenStream> = triples.iter().map(|t| &t.1).collect();
        let args: Vec<&TokenStream> = triples.iter().map(|t| &t.2).collect();
        let many = if params.len() >= 7 {
            quote!(#[allow(clippy::too_many_arguments)])
        } else {
            quote!()
        };
        let name = &cmd.name;
        let wire = &cmd.entity.name;
        sync_methods.push(quote! {
            #docs #attr #dep #many
            fn #m(&mut self, #(#params),*) -> Result<#returns, #rt::Error>;
        });
        async_methods.push(quote! {
            #docs #attr #dep #many
            fn #m(&self, #(#params),*) -> impl ::std::future::Future<Output = Result<#returns, #rt::Error>> + Send;
        });
        let placeholders = match &cmd.params {
            Params::Each(fields) => types::placeholder_allow(fields.iter().map(|f| &f.ident)),
            _ => quote!(),
        };
        mutex_methods.push(quote! {
            #attr #many #placeholders
            fn #m(&self, #(#params),*) -> impl ::std::future::Future<Output = Result<#returns, #rt::Error>> + Send {
                let result = self.lock().unwrap_or_else(::std::sync::PoisonError::into_inner).#m(#(#names_only),*);
                ::std::future::ready(result)
            }
        });
        let bind = if args.is_empty() {
            quote!(_a)
        } else {
            quote!(a)
        };
        sync_arms.push(quote! {
            #attr
            #wire => input
                .read::<#name>(arguments)
                .map_err(#rt::Error::from)
                .and_then(|#bind| handler.#m(#(#args),*))
                .map(|r| #rt::ToValue::to_value(&r, out)),
        });
        async_arms.push(quote! {
            #attr
            #wire => match input.read::<#name>(arguments) {
                Ok(#bind) => handler.#m(#(#args),*).await.map(|r| #rt::ToValue::to_value(&r, out)),
                Err(e) => Err(e.into()),
            },
        });
    }
    // When a cfg may leave out every command, the parameters may be
    // unused and the match may only return.
    let all_cfg = served.iter().all(|c| matches!(c.cond, Resolved::Cfg(_)));
    let (unused, unreachable) = if all_cfg && !served.is_empty() {
        (
            quote!(let _ = (&handler, &arguments, out);),
            quote!(#[allow(unreachable_code, unused_variables)]),
        )
    } else {
        (quote!(), quote!())
    };
    // The two dispatchers differ only in their arms.
    let body = |arms: &[TokenStream]| {
        if served.is_empty() {
            return quote! {
                let _ = (handler, name, arguments, input, out);
                None
            };
        }
        quote! {
            if let Some(info) = command_info(name) {
                if let Err(e) = info.check_policy(input) {
                    return Some(Err(e));
                }
            }
            let arguments = arguments.unwrap_or_else(|| #rt::Value::Object(#rt::Map::new()));
            #unused
            let result = match name {
                #(#arms)*
                _ => return None,
            };
            Some(result)
        }
    };
    let sync_body = body(&sync_arms);
    let async_body = body(&async_arms);
    let any_dep = served
        .iter()
        .any(|c| !cx.deprecated_attr(&c.entity.features).is_empty());
    let allow = if any_dep {
        quote!(#[allow(deprecated)])
    } else {
        quote!()
    };
    quote! {
        /// The commands a server implements, one method per command the
        /// schema generates (`'gen': false` commands are left to the
        /// server). Called through [`dispatch`].
        pub trait Commands {
            #(#sync_methods)*
        }

        /// [`Commands`] for asynchronous servers: the same methods taking
        /// `&self` and returning futures. A `Mutex` (or `Arc<Mutex>`)
        /// around a [`Commands`] implementation is one.
        pub trait AsyncCommands: Send + Sync {
            #(#async_methods)*
        }

        #allow
        impl<C: Commands + Send> AsyncCommands for ::std::sync::Mutex<C> {
            #(#mutex_methods)*
        }

        /// Shared with other threads (an I/O loop, say) that lock it too.
        #allow
        impl<C: Commands + Send> AsyncCommands for ::std::sync::Arc<::std::sync::Mutex<C>> {
            #(#mutex_methods)*
        }

        /// Runs the command `name` with its `arguments` (absent means
        /// `{}`): reads them with QEMU's rules and texts, calls the
        /// handler, and returns the result as JSON. `None` when this build
        /// has no such command or the schema leaves it to hand-written
        /// code (`'gen': false`).
        #allow
        #unreachable
        pub fn dispatch<C: Commands + ?Sized>(
            handler: &mut C,
            name: &str,
            arguments: Option<#rt::Value>,
            input: &mut #rt::Input,
            out: &#rt::Output,
        ) -> Option<Result<#rt::Value, #rt::Error>> {
            #sync_body
        }

        /// [`dispatch`] for an [`AsyncCommands`] handler.
        #allow
        #unreachable
        pub async fn dispatch_async<C: AsyncCommands>(
            handler: &C,
            name: &str,
            arguments: Option<#rt::Value>,
            input: &mut #rt::Input,
            out: &#rt::Output,
        ) -> Option<Result<#rt::Value, #rt::Error>> {
            #async_body
        }
    }
}

/// `QmpService`: the five lines that connect the dispatcher to the
/// runtime's QMP server, generated on request.
fn qmp_service(cx: &Context<'_>) -> TokenStream {
    let rt = &cx.rt;
    let schema = if cx.options.parts.introspection {
        quote!(Some(super::introspection::qmp_schema_json()))
    } else {
        quote!(None)
    };
    quote! {
        /// Serves these commands with `qapi_runtime::qmp::Server`: wrap an
        /// [`AsyncCommands`] implementation (a `Mutex` around a
        /// [`Commands`] one is one).
        #[derive(Debug, Default)]
        pub struct QmpService<C>(pub C);

        impl<C: AsyncCommands + 'static> #rt::qmp::Service for QmpService<C> {
            fn commands(&self) -> &'static [#rt::CommandInfo] {
                COMMANDS
            }

            fn command_info(&self, name: &str) -> Option<&'static #rt::CommandInfo> {
                command_info(name)
            }

            fn dispatch(
                &self,
                name: &str,
                arguments: Option<#rt::Value>,
                input: &mut #rt::Input,
                out: &#rt::Output,
            ) -> impl ::std::future::Future<Output = Option<Result<#rt::Value, #rt::Error>>> + Send {
                dispatch_async(&self.0, name, arguments, input, out)
            }

            fn schema(&self) -> Option<String> {
                #schema
            }
        }
    }
}
