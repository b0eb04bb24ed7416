//! The builder setters of option and query structs, written once.

/// Writes one `#[must_use]` builder method per listed field: `name: Arg => field = conversion;`.
macro_rules! setters {
    ($ty:ident { $($(#[$m:meta])* $name:ident : $arg:ty => $field:ident = $val:expr;)* }) => {
        impl $ty {
            $(
                $(#[$m])*
                #[must_use]
                pub fn $name(mut self, v: $arg) -> Self {
                    #[allow(clippy::redundant_closure_call)]
                    { self.$field = ($val)(v); }
                    self
                }
            )*
        }
    };
}
