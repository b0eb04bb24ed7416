//! What the drivers decide about the rows of `transaction_outputs`, and the errors they report
//! about them. The errors name no backend, so drivers add theirs.

use dbos_storage_core::{
    Error, ErrorKind, Outcome, Payload, RecordedTransaction, Result, TransactionCall,
};

/// A recorded row from its columns: an error wins over an output; neither is no outcome.
/// `transaction_outputs` has no serialization column, so the payloads carry no label.
pub fn recorded_transaction(
    function_name: String,
    output: Option<String>,
    error: Option<String>,
) -> RecordedTransaction {
    let outcome = match (output, error) {
        (_, Some(error)) => Some(Outcome::Error(Payload::new(error, None))),
        (Some(output), None) => Some(Outcome::Output(Payload::new(output, None))),
        (None, None) => None,
    };
    RecordedTransaction::new(function_name, outcome)
}

/// The outcome to replay for `call` from the row recorded at its position.
///
/// A row recorded without a `function_name` (by a DBOS version before the column existed)
/// matches any name.
///
/// # Errors
/// [`ErrorKind::UnexpectedStep`] when the row names another transaction (the workflow is not
/// deterministic); [`ErrorKind::Corrupt`] when it holds neither an output nor an error.
pub fn replayed_outcome(call: &TransactionCall, recorded: RecordedTransaction) -> Result<Outcome> {
    if !recorded.function_name.is_empty() && recorded.function_name != call.function_name {
        return Err(Error::new(
            ErrorKind::UnexpectedStep,
            format!(
                "transaction {} of workflow {:?} was recorded as {:?}, but this run calls {:?} at \
                 that position: the workflow is not deterministic",
                call.function_id, call.workflow_id, recorded.function_name, call.function_name
            ),
        ));
    }
    recorded.outcome.ok_or_else(|| {
        Error::corrupt(format!(
            "transaction {} of workflow {:?} is recorded with neither an output nor an error",
            call.function_id, call.workflow_id
        ))
    })
}

/// The error of a transaction body that returned [`Outcome::Void`]: `transaction_outputs` keeps
/// a successful transaction's output as text, and DBOS replays a row with neither an output nor
/// an error as an error ("Output and error are both None"), so a void return has no row to write.
pub fn void_output(call: &TransactionCall) -> Error {
    Error::invalid_input(format!(
        "transaction {} of workflow {:?} returned no output: transaction_outputs records a \
         transaction's output as text (DBOS cannot replay a NULL one); return the encoded unit \
         value, such as Outcome::Output(Payload::portable_json(\"null\")), instead",
        call.function_id, call.workflow_id
    ))
}

/// The error of an error row that cannot be read back right after it was written.
pub fn vanished(call: &TransactionCall) -> Error {
    Error::corrupt(format!(
        "the error row of transaction {} of workflow {:?} vanished right after it was written",
        call.function_id, call.workflow_id
    ))
}

/// The error of an output row that collides with the row of a concurrent execution of the same
/// step, which recorded it first.
pub fn recorded_concurrently(call: &TransactionCall) -> Error {
    Error::new(
        ErrorKind::StepConflict,
        format!(
            "a concurrent execution recorded transaction {} of workflow {:?} first; this run's \
             writes were rolled back",
            call.function_id, call.workflow_id
        ),
    )
}

/// The error of a store whose `transaction_outputs` table (named `table`, qualified as the
/// backend needs) does not exist.
pub fn missing_table(table: &str) -> Error {
    Error::new(
        ErrorKind::SchemaMismatch,
        format!(
            "the application database has no {table} table; call AppStore::migrate() once before \
             running transactions"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> TransactionCall {
        TransactionCall::new("wf-1", 2, "deposit")
    }

    #[test]
    fn replays_check_the_name_and_need_an_outcome() {
        let output = recorded_transaction("deposit".into(), Some("1".into()), None);
        assert_eq!(
            replayed_outcome(&call(), output).unwrap(),
            Outcome::Output(Payload::new("1", None))
        );
        let unnamed = recorded_transaction(String::new(), Some("1".into()), Some("e".into()));
        assert_eq!(
            replayed_outcome(&call(), unnamed).unwrap(),
            Outcome::Error(Payload::new("e", None))
        );
        let other = recorded_transaction("withdraw".into(), Some("1".into()), None);
        let e = replayed_outcome(&call(), other).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnexpectedStep);
        assert!(e.message().contains("\"deposit\"") && e.message().contains("\"withdraw\""));
        let empty = recorded_transaction("deposit".into(), None, None);
        assert_eq!(
            replayed_outcome(&call(), empty).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }

    #[test]
    fn messages_name_the_step() {
        assert!(recorded_concurrently(&call())
            .message()
            .contains("a concurrent execution recorded transaction 2 of workflow \"wf-1\" first"));
        assert!(missing_table("\"dbos\".transaction_outputs")
            .message()
            .contains("no \"dbos\".transaction_outputs table; call AppStore::migrate()"));
    }
}
