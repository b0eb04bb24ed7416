//! Payloads: already-encoded text with its serialization label, and codecs for the two formats
//! this crate writes.
//!
//! Stores never parse payloads. Every payload column (inputs, outputs, errors, messages, event and
//! stream values) holds text whose format is named by the row's `serialization` label. This
//! module offers:
//!
//! - [`Serialization`], every label the DBOS SDKs write, plus [`Serialization::Other`] for labels
//!   this build does not know;
//! - [`Payload`], the text and its label as they cross the store traits;
//! - [`validate_text`], the checks every stored text must pass;
//! - [`portable`], the `portable_json` codec every DBOS SDK reads;
//! - [`rust_serde`], this project's native format (plain serde_json text).

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The largest payload text accepted, in bytes: 256 MiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

/// A serialization label, as stored in the `serialization` column.
///
/// Parsing never fails: a label this build does not know becomes [`Serialization::Other`].
/// Always build values with [`Serialization::parse_label`] (or `str::parse`), so that a known
/// label is never held as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, strum::EnumString, strum::Display, strum::AsRefStr)]
#[non_exhaustive]
pub enum Serialization {
    /// `portable_json`: the cross-language JSON format every DBOS SDK reads.
    #[strum(serialize = "portable_json")]
    PortableJson,
    /// `rust_serde`: this project's native format, plain serde_json text (the label
    /// dbos-transact-rust uses).
    #[strum(serialize = "rust_serde")]
    RustSerde,
    /// `py_pickle`: DBOS Python's base64-encoded pickles.
    #[strum(serialize = "py_pickle")]
    PyPickle,
    /// `js_superjson`: DBOS TypeScript's superjson.
    #[strum(serialize = "js_superjson")]
    JsSuperjson,
    /// `js_legacy`: older DBOS TypeScript JSON with `{dbos_type, dbos_data}` revivers.
    #[strum(serialize = "js_legacy")]
    JsLegacy,
    /// `DBOS_JSON`: DBOS Go's base64-encoded JSON.
    #[strum(serialize = "DBOS_JSON")]
    DbosJson,
    /// `DBOS_GOB`: DBOS Go's base64-encoded gob.
    #[strum(serialize = "DBOS_GOB")]
    DbosGob,
    /// `java_jackson`: DBOS Java's Jackson JSON with type information.
    #[strum(serialize = "java_jackson")]
    JavaJackson,
    /// `custom_serializer`: a user-supplied serializer (DBOS Python's default label for one).
    #[strum(serialize = "custom_serializer")]
    CustomSerializer,
    /// A label this build does not know, kept verbatim.
    #[strum(default, transparent)]
    Other(String),
}

impl Serialization {
    /// The label as stored in the database, e.g. `"portable_json"` or `"DBOS_JSON"`.
    pub fn as_label(&self) -> &str {
        self.as_ref()
    }

    /// The value for a stored label. Exact, case-sensitive match; anything unknown becomes
    /// [`Serialization::Other`].
    pub fn parse_label(label: &str) -> Self {
        label
            .parse()
            .unwrap_or_else(|_| Serialization::Other(label.to_owned()))
    }
}

impl Serialize for Serialization {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_label())
    }
}

impl<'de> Deserialize<'de> for Serialization {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct LabelVisitor;

        impl serde::de::Visitor<'_> for LabelVisitor {
            type Value = Serialization;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a serialization label string")
            }

            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(Serialization::parse_label(v))
            }
        }

        deserializer.deserialize_str(LabelVisitor)
    }
}

/// Already-encoded payload text and its serialization label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The encoded text, stored as is.
    pub text: String,
    /// Its label; `None` means "the writer's configured default", as in DBOS rows written before
    /// migration 11.
    pub serialization: Option<Serialization>,
}

impl Payload {
    /// Checks the payload (`what` says which, e.g. `"workflow input"`): its text as
    /// [`validate_text`], and its serialization label, which must hold no NUL byte.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidInput`] naming `what`.
    pub fn validate(&self, what: &str) -> Result<()> {
        validate_text(what, &self.text)?;
        match &self.serialization {
            Some(label) => validate_text(&format!("{what}'s serialization label"), label.as_ref()),
            None => Ok(()),
        }
    }

    /// A payload of `text` labelled `serialization` (a [`Serialization`] or an `Option` of one).
    pub fn new(text: impl Into<String>, serialization: impl Into<Option<Serialization>>) -> Self {
        Payload {
            text: text.into(),
            serialization: serialization.into(),
        }
    }

    /// A payload of `portable_json` text. The text is not checked; use [`portable::encode_value`]
    /// to encode a value.
    pub fn portable_json(text: impl Into<String>) -> Self {
        Payload::new(text, Serialization::PortableJson)
    }

    /// A payload of `rust_serde` text. The text is not checked; use [`rust_serde::encode`] to
    /// encode a value.
    pub fn rust_serde(text: impl Into<String>) -> Self {
        Payload::new(text, Serialization::RustSerde)
    }

    /// The label as stored, or `None` for the writer's default.
    pub fn label(&self) -> Option<&str> {
        self.serialization.as_ref().map(Serialization::as_label)
    }
}

/// Checks text before it is stored: no NUL byte (PostgreSQL `text` cannot hold one) and at most
/// [`MAX_PAYLOAD_BYTES`] bytes. `what` names the text in the message (`"workflow input"`).
///
/// # Errors
/// [`crate::error::ErrorKind::InvalidInput`] saying which rule failed.
pub fn validate_text(what: &str, s: &str) -> Result<()> {
    if s.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::invalid_input(format!(
            "{what} is {} bytes, over the limit of {MAX_PAYLOAD_BYTES} bytes",
            s.len()
        )));
    }
    if let Some(offset) = s.find('\0') {
        return Err(Error::invalid_input(format!(
            "{what} contains a NUL byte (\\0) at offset {offset}; PostgreSQL text cannot store it \
             — encode binary data (e.g. base64) before storing"
        )));
    }
    Ok(())
}

/// Fails unless `payload` carries `expected`.
fn check_label(payload: &Payload, expected: &Serialization) -> Result<()> {
    match &payload.serialization {
        Some(label) if label == expected => Ok(()),
        Some(label) => Err(Error::invalid_input(format!(
            "cannot decode a {} payload as {}",
            label.as_label(),
            expected.as_label()
        ))),
        None => Err(Error::invalid_input(format!(
            "cannot decode a payload without a serialization label (the writer's default) as \
             {}",
            expected.as_label()
        ))),
    }
}

fn encode_json<T: Serialize + ?Sized>(value: &T, label: Serialization) -> Result<Payload> {
    match serde_json::to_string(value) {
        Ok(text) => Ok(Payload::new(text, label)),
        Err(e) => Err(Error::invalid_input(format!(
            "cannot encode the value as {}: {e}",
            label.as_label()
        ))
        .with_source(e)),
    }
}

fn decode_json<T: DeserializeOwned>(payload: &Payload, label: Serialization) -> Result<T> {
    check_label(payload, &label)?;
    serde_json::from_str(&payload.text).map_err(|e| {
        Error::corrupt(format!(
            "cannot decode the {} payload: {e}",
            label.as_label()
        ))
        .with_source(e)
    })
}

/// The `portable_json` codec: compact UTF-8 JSON that every DBOS SDK reads.
///
/// Readers parse rather than compare text, so `{"positionalArgs" : [5]}` written by the SQL
/// enqueue function decodes like its compact form. An empty result must be encoded as JSON
/// `null`, never as empty text.
pub mod portable {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize};
    use serde_json::{Map, Value};

    use super::{decode_json, encode_json, Payload, Serialization};
    use crate::error::Result;

    /// Encodes a value as compact `portable_json` (no spaces, non-ASCII not escaped).
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidInput`] if the value cannot be represented as JSON
    /// (for example a map with non-string keys).
    pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Payload> {
        encode_json(value, Serialization::PortableJson)
    }

    /// Decodes a `portable_json` payload.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidInput`] naming both labels if the payload is not
    /// labelled `portable_json`; [`crate::error::ErrorKind::Corrupt`] if the text is not JSON of
    /// the expected shape.
    pub fn decode_value<T: DeserializeOwned>(payload: &Payload) -> Result<T> {
        decode_json(payload, Serialization::PortableJson)
    }

    /// Workflow inputs in portable form: `{"positionalArgs":[...],"namedArgs":{...}}`.
    ///
    /// A missing or `null` member decodes as empty.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct WorkflowInputs {
        /// Positional arguments, in order.
        #[serde(default, deserialize_with = "null_as_default")]
        pub positional_args: Vec<Value>,
        /// Named (keyword) arguments.
        #[serde(default, deserialize_with = "null_as_default")]
        pub named_args: Map<String, Value>,
    }

    impl WorkflowInputs {
        /// Inputs with the given positional and named arguments.
        pub fn new(positional_args: Vec<Value>, named_args: Map<String, Value>) -> Self {
            WorkflowInputs {
                positional_args,
                named_args,
            }
        }

        /// Encodes the inputs as a `portable_json` payload.
        ///
        /// # Errors
        /// As [`encode_value`].
        pub fn encode(&self) -> Result<Payload> {
            encode_value(self)
        }

        /// Decodes inputs from a `portable_json` payload.
        ///
        /// # Errors
        /// As [`decode_value`].
        pub fn decode(payload: &Payload) -> Result<Self> {
            decode_value(payload)
        }
    }

    /// An error in portable form: `{"name":…,"message":…,"code"?:…,"data"?:…}`.
    ///
    /// `code` and `data` are omitted when `None`; a missing `name` or `message` decodes as empty.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct PortableError {
        /// The error's type or class name, e.g. `"ValueError"`.
        #[serde(default, deserialize_with = "null_as_default")]
        pub name: String,
        /// The error message.
        #[serde(default, deserialize_with = "null_as_default")]
        pub message: String,
        /// An error code (any JSON value: DBOS Python takes it from `code`, `errno`,
        /// `status_code`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub code: Option<Value>,
        /// Extra structured data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub data: Option<Value>,
    }

    impl PortableError {
        /// An error with a name and a message, and no code or data.
        pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
            PortableError {
                name: name.into(),
                message: message.into(),
                code: None,
                data: None,
            }
        }

        /// Sets the code.
        #[must_use]
        pub fn with_code(mut self, code: impl Into<Value>) -> Self {
            self.code = Some(code.into());
            self
        }

        /// Sets the data.
        #[must_use]
        pub fn with_data(mut self, data: impl Into<Value>) -> Self {
            self.data = Some(data.into());
            self
        }

        /// Encodes the error as a `portable_json` payload.
        ///
        /// # Errors
        /// As [`encode_value`].
        pub fn encode(&self) -> Result<Payload> {
            encode_value(self)
        }

        /// Decodes an error from a `portable_json` payload.
        ///
        /// # Errors
        /// As [`decode_value`].
        pub fn decode(payload: &Payload) -> Result<Self> {
            decode_value(payload)
        }
    }

    impl std::fmt::Display for PortableError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match (self.name.is_empty(), self.message.is_empty()) {
                (false, false) => write!(f, "{}: {}", self.name, self.message),
                (false, true) => f.write_str(&self.name),
                _ => f.write_str(&self.message),
            }
        }
    }

    impl std::error::Error for PortableError {}

    /// Deserializes `null` as the type's default.
    fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Default,
    {
        Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// The `rust_serde` codec: plain serde_json text, this project's native format (as in
/// dbos-transact-rust). Other SDKs cannot read it; use [`portable`] for values they must read.
pub mod rust_serde {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::{decode_json, encode_json, Payload, Serialization};
    use crate::error::Result;

    /// Encodes a value as `rust_serde` text.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidInput`] if serde_json cannot encode the value.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Payload> {
        encode_json(value, Serialization::RustSerde)
    }

    /// Decodes a `rust_serde` payload.
    ///
    /// # Errors
    /// [`crate::error::ErrorKind::InvalidInput`] naming both labels if the payload is not
    /// labelled `rust_serde`; [`crate::error::ErrorKind::Corrupt`] if the text does not decode.
    pub fn decode<T: DeserializeOwned>(payload: &Payload) -> Result<T> {
        decode_json(payload, Serialization::RustSerde)
    }
}

#[cfg(test)]
mod tests {
    use super::portable::{PortableError, WorkflowInputs};
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    const ALL: &[(Serialization, &str)] = &[
        (Serialization::PortableJson, "portable_json"),
        (Serialization::RustSerde, "rust_serde"),
        (Serialization::PyPickle, "py_pickle"),
        (Serialization::JsSuperjson, "js_superjson"),
        (Serialization::JsLegacy, "js_legacy"),
        (Serialization::DbosJson, "DBOS_JSON"),
        (Serialization::DbosGob, "DBOS_GOB"),
        (Serialization::JavaJackson, "java_jackson"),
        (Serialization::CustomSerializer, "custom_serializer"),
    ];

    fn ok<T>(r: Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn label_round_trips() {
        for (ser, label) in ALL {
            assert_eq!(ser.as_label(), *label);
            assert_eq!(ser.to_string(), *label);
            assert_eq!(ser.as_ref(), *label);
            assert_eq!(&Serialization::parse_label(label), ser);
            assert_eq!(label.parse::<Serialization>().ok().as_ref(), Some(ser));
            let json = ok(serde_json::to_string(ser).map_err(|e| Error::corrupt(e.to_string())));
            assert_eq!(json, format!("\"{label}\""));
            let back: Serialization =
                ok(serde_json::from_str(&json).map_err(|e| Error::corrupt(e.to_string())));
            assert_eq!(&back, ser);
        }
    }

    #[test]
    fn unknown_label_is_other() {
        for label in ["cbor", "PORTABLE_JSON", "dbos_json", ""] {
            let ser = Serialization::parse_label(label);
            assert_eq!(ser, Serialization::Other(label.to_owned()));
            assert_eq!(ser.as_label(), label);
            assert_eq!(ser.to_string(), label);
            assert_eq!(label.parse::<Serialization>().ok(), Some(ser.clone()));
            let json = ok(serde_json::to_string(&ser).map_err(|e| Error::corrupt(e.to_string())));
            let back: Serialization =
                ok(serde_json::from_str(&json).map_err(|e| Error::corrupt(e.to_string())));
            assert_eq!(back, ser);
        }
    }

    #[test]
    fn payload_constructors_and_serde() {
        let p = Payload::portable_json("[]");
        assert_eq!(p.serialization, Some(Serialization::PortableJson));
        assert_eq!(p.label(), Some("portable_json"));
        assert_eq!(
            Payload::rust_serde("1").serialization,
            Some(Serialization::RustSerde)
        );
        assert_eq!(Payload::new("x", None).serialization, None);
        assert_eq!(Payload::new("x", None).label(), None);
        assert_eq!(
            Payload::new("x", Serialization::PyPickle).serialization,
            Some(Serialization::PyPickle)
        );
        let json = ok(serde_json::to_string(&p).map_err(|e| Error::corrupt(e.to_string())));
        assert_eq!(json, r#"{"text":"[]","serialization":"portable_json"}"#);
        let back: Payload =
            ok(serde_json::from_str(&json).map_err(|e| Error::corrupt(e.to_string())));
        assert_eq!(back, p);
    }

    #[test]
    fn observed_dbos_texts_decode() {
        let inputs = ok(WorkflowInputs::decode(&Payload::portable_json(
            r#"{"namedArgs":{"flag":true},"positionalArgs":[{"a":[1,2]}]}"#,
        )));
        assert_eq!(inputs.positional_args, vec![json!({"a": [1, 2]})]);
        assert_eq!(inputs.named_args.get("flag"), Some(&json!(true)));

        let spaced = ok(WorkflowInputs::decode(&Payload::portable_json(
            r#"{"positionalArgs" : [5], "namedArgs" : {}}"#,
        )));
        assert_eq!(spaced.positional_args, vec![json!(5)]);
        assert!(spaced.named_args.is_empty());

        let err = ok(PortableError::decode(&Payload::portable_json(
            r#"{"name":"MyErr","message":"boom","code":42}"#,
        )));
        assert_eq!(err, PortableError::new("MyErr", "boom").with_code(42));
        assert_eq!(err.data, None);
        assert_eq!(err.to_string(), "MyErr: boom");
    }

    #[test]
    fn null_or_missing_args_decode_as_empty() {
        for text in [
            r#"{"positionalArgs":null,"namedArgs":null}"#,
            r#"{}"#,
            r#"{"positionalArgs":[1]}"#,
        ] {
            let inputs = ok(WorkflowInputs::decode(&Payload::portable_json(text)));
            assert!(inputs.named_args.is_empty(), "{text}");
            assert!(inputs.positional_args.len() <= 1, "{text}");
        }
    }

    #[test]
    fn encodings_are_compact() {
        let mut named = serde_json::Map::new();
        named.insert("flag".to_owned(), json!(true));
        let p = ok(WorkflowInputs::new(vec![json!("héllo ✓")], named).encode());
        assert_eq!(p.serialization, Some(Serialization::PortableJson));
        assert_eq!(
            p.text,
            r#"{"positionalArgs":["héllo ✓"],"namedArgs":{"flag":true}}"#
        );
        let e = ok(PortableError::new("MyErr", "boom").with_code(42).encode());
        assert_eq!(e.text, r#"{"name":"MyErr","message":"boom","code":42}"#);
        let e = ok(PortableError::new("E", "m")
            .with_data(json!({"k": 1}))
            .encode());
        assert_eq!(e.text, r#"{"name":"E","message":"m","data":{"k":1}}"#);
        assert_eq!(ok(portable::encode_value(&())).text, "null");
    }

    #[test]
    fn portable_round_trip_and_label_check() {
        let p = ok(portable::encode_value(&vec![1, 2, 3]));
        assert_eq!(p.text, "[1,2,3]");
        let v: Vec<i32> = ok(portable::decode_value(&p));
        assert_eq!(v, vec![1, 2, 3]);

        let e =
            portable::decode_value::<Vec<i32>>(&Payload::new("[1]", Serialization::PyPickle)).err();
        let e = e.unwrap_or_else(|| panic!("decoded a py_pickle payload"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("py_pickle"), "{e}");
        assert!(e.message().contains("portable_json"), "{e}");

        let e = portable::decode_value::<Vec<i32>>(&Payload::new("[1]", None)).err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InvalidInput));

        let e = portable::decode_value::<Vec<i32>>(&Payload::portable_json("{")).err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::Corrupt));

        let mut bad_keys = std::collections::HashMap::new();
        bad_keys.insert(vec![1], 2);
        let e = portable::encode_value(&bad_keys).err();
        assert_eq!(e.map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    }

    #[test]
    fn rust_serde_round_trip() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct S {
            a: u32,
            b: Option<String>,
        }
        let s = S { a: 1, b: None };
        let p = ok(rust_serde::encode(&s));
        assert_eq!(p.serialization, Some(Serialization::RustSerde));
        assert_eq!(p.text, r#"{"a":1,"b":null}"#);
        assert_eq!(ok(rust_serde::decode::<S>(&p)), s);
        let e = rust_serde::decode::<S>(&Payload::portable_json(&p.text)).err();
        let e = e.unwrap_or_else(|| panic!("decoded a portable_json payload"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "cannot decode a portable_json payload as rust_serde"
        );
    }

    #[test]
    fn nul_bytes_rejected() {
        let e = validate_text("workflow input", "ab\0c").err();
        let e = e.unwrap_or_else(|| panic!("accepted a NUL byte"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "workflow input contains a NUL byte (\\0) at offset 2; PostgreSQL text cannot store \
             it — encode binary data (e.g. base64) before storing"
        );
        ok(validate_text("workflow input", "héllo"));
        ok(validate_text("workflow input", ""));
    }

    #[test]
    fn oversized_text_rejected() {
        let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
        let e = validate_text("step output", &big).err();
        let e = e.unwrap_or_else(|| panic!("accepted an oversized text"));
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            format!(
                "step output is {} bytes, over the limit of {MAX_PAYLOAD_BYTES} bytes",
                MAX_PAYLOAD_BYTES + 1
            )
        );
        ok(validate_text("step output", &big[1..]));
    }
}
