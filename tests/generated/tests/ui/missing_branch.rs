use qapi_generated_tests::server::{Beep, SignalHandler};

struct OnlySound;

impl SignalHandler for OnlySound {
    type Output = ();

    fn beep(self, _level: Option<i64>, _options: Beep) {}

    // The `flash` and `silence` branches are not handled.
}

fn main() {}
