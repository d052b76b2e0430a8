use qapi_generated_tests::server::{Circle, FigureHandler, Square};

struct OnlyRound;

impl FigureHandler for OnlyRound {
    type Output = ();

    fn circle(self, _id: String, _hidden: Option<bool>, _options: Circle) {}

    fn square(self, _id: String, _hidden: Option<bool>, _options: Square) {}

    // The `none` and `hexagon` branches are not handled.
}

fn main() {}
