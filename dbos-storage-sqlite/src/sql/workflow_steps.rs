//! The statements of an operation run as a workflow's step: a savepoint around the operation,
//! so that an operation that fails is undone while the step recording its error commits.

// language=SQL
/// Opens the savepoint of the operation.
pub(crate) const SAVEPOINT_OPERATION: &str = "SAVEPOINT dbos_step_operation";

// language=SQL
/// Undoes the operation's writes (the savepoint stays open until released).
pub(crate) const ROLLBACK_TO_OPERATION: &str = "ROLLBACK TO dbos_step_operation";

// language=SQL
/// Closes the savepoint, keeping what is not rolled back.
pub(crate) const RELEASE_OPERATION: &str = "RELEASE dbos_step_operation";
