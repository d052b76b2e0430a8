use qapi_generated_tests::server::Square;

fn main() {
    // `side` is mandatory.
    let _ = Square { center: None };
}
