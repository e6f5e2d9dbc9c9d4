//! Checklist item 20's fuzz target: any bytes -> `Packet::decode` -> a reply
//! echoing the request -> `encode` within the client's size limit ->
//! `Packet::decode_any` of the encoding -> compare, and encode again.
//! `roundtrip_check` holds the invariants (reply size, cookie, end option,
//! option 82 last, only non-mandatory options dropped and only from the
//! end, fields and options unchanged); a broken one is a bug in hamasq and
//! fails the run, and so does any panic.

#![no_main]

use hamasq::dhcp::wire::roundtrip_check;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = roundtrip_check(data) {
        panic!("{e}");
    }
});
