//! Config parser: any text as a config file → INI parse and validation
//! (stages 1 and 2, the pure ones) must never panic, and every error must
//! render (file, line, section, key, value, message). An accepted config
//! must validate again, to the same result, from the same text.

#![no_main]

use std::path::Path;

use hamasq::config::parse_and_validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/hamasq.conf");
    match parse_and_validate(path, text) {
        Ok(c) => assert_eq!(parse_and_validate(path, text).ok(), Some(c)),
        Err(errs) => {
            assert!(!errs.is_empty());
            for e in errs {
                let _ = e.to_string();
            }
        }
    }
});
