#![deny(deprecated)]

use qapi_generated_tests::client::commands::OldCmd;
use qapi_runtime::Command;

fn main() {
    let request = OldCmd;
    let _ = request.arguments(&qapi_runtime::Output::new());
}
