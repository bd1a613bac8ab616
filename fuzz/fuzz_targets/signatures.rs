//! Every verification scheme's parsing of what the sender controls: signature and
//! timestamp headers (Stripe, Standard Webhooks, Betterez, Slack, ...), form bodies
//! (Twilio), JWTs, Basic credentials, URL tokens and `X-Forwarded-For`. Each input is
//! a raw request checked by every route's verifiers; none may panic, and a route's
//! checks may only pass for a request signed with its secret.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hookgate::auth::AuthRequest;
use hookgate::model::PathParams;
use hookgate::registry::Lookup;
use hookgate_fuzz::{signature_routes, Raw, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(raw) = Raw::read(data) else {
        return;
    };
    let snapshot = signature_routes();
    let matched = match snapshot.lookup(&raw.method, raw.uri.path()) {
        Lookup::Found { route, params } => Some((route.route.name.clone(), params)),
        _ => None,
    };
    let none = PathParams::default();
    for live in &snapshot.routes {
        let params = match &matched {
            Some((name, params)) if *name == live.route.name => params,
            _ => &none,
        };
        let request = AuthRequest {
            method: &raw.method,
            uri: &raw.uri,
            headers: &raw.headers,
            body: &raw.body,
            params,
            peer: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            now: NOW,
        };
        for verifier in &live.verifiers {
            let _ = verifier.verify(&request);
        }
    }
});
