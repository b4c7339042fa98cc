//! Feeds arbitrary bytes to the GetMedia parser, split at arbitrary points, and checks
//! that it never panics and that splitting never changes what it reports.
#![no_main]

use callscribe::kvs::fragment::FragmentReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = parse(data, usize::MAX);
    // The split width comes from the length, so seed files stay valid MKV.
    let step = data.len() % 61 + 1;
    assert_eq!(parse(data, step), whole, "splitting changed the result");
});

/// Fragments and the error, feeding `step` bytes at a time.
fn parse(bytes: &[u8], step: usize) -> (Vec<callscribe::kvs::fragment::Fragment>, Option<String>) {
    let mut reader = FragmentReader::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(step.min(bytes.len().max(1))) {
        if let Err(e) = reader.feed(piece, &mut out) {
            return (out, Some(e.to_string()));
        }
    }
    let end = reader.finish(&mut out).err().map(|e| e.to_string());
    (out, end)
}
