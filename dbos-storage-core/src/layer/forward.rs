//! The one macro that writes, from a single list of every method's signature and flags, both
//! the method table and the forwarding of every area trait through a layer.

/// Writes, from the list of methods in [`crate::methods`]:
///
/// - a [`Method`](crate::Method) constant per method and `ALL_METHODS`, in trait order;
/// - for every area trait, its implementation for every
///   [`LayeredStore`](crate::LayeredStore) whose inner store implements that trait.
///
/// Each area lists its synchronous methods in brackets (forwarded straight to the inner store),
/// then one row per asynchronous method:
///
/// ```text
/// CONSTANT: forwarding access idempotency fn name(arg: Type, owned: Type => clone) -> Output { preparation };
/// ```
///
/// - forwarding: `layered` (through the layer), `polled` (through the layer; the caller's next
///   poll is its retry) or `direct` (straight to the inner store);
/// - access: `reads` or `writes`;
/// - idempotency: `Always`, `Never`, or `Conditional(expression over the arguments)`, the
///   expression deciding for each call;
/// - `=> clone` marks a by-value argument that each invocation of the operation clones;
///   references and `Copy` values are passed as they are;
/// - the optional `{ preparation }` runs once per call, before the layer sees it.
macro_rules! store_methods {
    (@writes reads) => { false };
    (@writes writes) => { true };
    (@polled polled) => { true };
    (@polled $forwarding:ident) => { false };
    (@layered direct) => { false };
    (@layered $forwarding:ident) => { true };
    (@idempotent Always) => { true };
    (@idempotent Never) => { false };
    (@idempotent Conditional ($condition:expr)) => { $condition };
    (@forward direct, $store:expr, $call:expr,
        $name:ident($($arg:ident $(=> $how:ident)?),*)) => {
        $crate::LayeredStore::inner_store($store).$name($($arg),*).await
    };
    (@forward $forwarding:ident, $store:expr, $call:expr,
        $name:ident($($arg:ident $(=> $how:ident)?),*)) => {{
        let inner = $crate::LayeredStore::inner_store($store);
        $crate::StoreLayer::intercept(
            $crate::LayeredStore::layer($store),
            $call,
            || inner.$name($($arg $(.$how())?),*),
        )
        .await
    }};
    (
        $(
            $area:ident
            $([ $( $sync_const:ident: fn $sync_name:ident() -> $sync_ret:ty; )* ])?
            {
                $(
                    $const:ident: $forwarding:ident $access:ident
                        $idempotency:ident $(($condition:expr))?
                    fn $name:ident($( $arg:ident: $ty:ty $(=> $how:ident)? ),*) -> $ret:ty
                    $({ $($preparation:tt)* })?;
                )*
            }
        )*
    ) => {
        $(
            $($(
                #[doc = concat!(
                    "[`", stringify!($area), "::", stringify!($sync_name), "`](crate::",
                    stringify!($area), "::", stringify!($sync_name), "): synchronous, passed ",
                    "straight to the inner store."
                )]
                pub const $sync_const: Method = Method {
                    name: stringify!($sync_name),
                    area: stringify!($area),
                    idempotency: Idempotency::Always,
                    writes: false,
                    polled: false,
                    layered: false,
                };
            )*)?
            $(
                #[doc = concat!(
                    "[`", stringify!($area), "::", stringify!($name), "`](crate::",
                    stringify!($area), "::", stringify!($name), ")."
                )]
                pub const $const: Method = Method {
                    name: stringify!($name),
                    area: stringify!($area),
                    idempotency: Idempotency::$idempotency,
                    writes: $crate::layer::store_methods!(@writes $access),
                    polled: $crate::layer::store_methods!(@polled $forwarding),
                    layered: $crate::layer::store_methods!(@layered $forwarding),
                };
            )*
        )*

        /// Every method of every area trait, in trait order (the order of
        /// [`SystemStore`](crate::SystemStore)'s documentation).
        pub const ALL_METHODS: &[Method] = &[$( $($($sync_const,)*)? $($const,)* )*];

        /// Each constant's name with the method name it was written beside.
        #[cfg(test)]
        const CONSTANT_NAMES: &[(&str, &str)] = &[$(
            $($((stringify!($sync_const), stringify!($sync_name)),)*)?
            $((stringify!($const), stringify!($name)),)*
        )*];

        $(
            #[async_trait::async_trait]
            impl<T> $crate::$area for T
            where
                T: $crate::LayeredStore,
                <T as $crate::LayeredStore>::Inner: $crate::$area,
            {
                $($(
                    fn $sync_name(&self) -> $sync_ret {
                        $crate::LayeredStore::inner_store(self).$sync_name()
                    }
                )*)?
                $(
                    async fn $name(&self, $($arg: $ty),*) -> $crate::Result<$ret> {
                        $($($preparation)*)?
                        $crate::layer::store_methods!(
                            @forward $forwarding,
                            self,
                            $crate::Call::new(
                                &$const,
                                $crate::layer::store_methods!(
                                    @idempotent $idempotency $(($condition))?
                                ),
                            ),
                            $name($($arg $(=> $how)?),*)
                        )
                    }
                )*
            }
        )*
    };
}

pub(crate) use store_methods;
