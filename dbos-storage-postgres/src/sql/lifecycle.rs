//! Statements of the lifecycle operations that are not migrations (those live with the
//! migrator).

// language=SQL
/// A trivial query proving the database answers.
pub(crate) const SELECT_ONE: &str = "SELECT 1";
